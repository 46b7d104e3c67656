"""Every payload arrives byte-identical: fuzzed (hypothesis) on both client engines.

Sizes include the edges of MQTT's Remaining Length encoding (one to four bytes: 127/128,
16,383/16,384, 2,097,151/2,097,152, 3.1.1 section 2.2.3) and a 50 MB payload; the content is
arbitrary bytes (not UTF-8 in general: a payload is binary, 3.1.1 section 3.3.3).
"""

from __future__ import annotations

import hashlib
import itertools
import threading

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mqtt_surge import Message, Subscriber
from mqtt_surge.brokers import BrokerBase
from mqtt_surge.testing import Publisher

MB = 1024 * 1024


def _sized(seed: bytes, size: int) -> bytes:
    """``size`` bytes that are not a repetition of one byte (``seed`` stretched)."""
    if not size:
        return b""
    block = hashlib.sha256(seed).digest() + seed
    return (block * (size // len(block) + 1))[:size]


EDGES = [127, 128, 16_383, 16_384, 2_097_151, 2_097_152]
PAYLOADS = st.one_of(
    st.binary(max_size=1024),
    st.builds(
        _sized,
        st.binary(min_size=1, max_size=16),
        st.sampled_from(EDGES).flatmap(lambda n: st.integers(n - 40, n + 2)),
    ),
)


class Inbox:
    """Messages by topic, with a signal per arrival."""

    def __init__(self) -> None:
        self._got: dict[str, bytes] = {}
        self._cond = threading.Condition()

    def __call__(self, message: Message) -> None:
        with self._cond:
            self._got[message.topic] = bytes(message.payload)
            self._cond.notify_all()

    def take(self, topic: str, timeout: float) -> bytes:
        with self._cond:
            assert self._cond.wait_for(lambda: topic in self._got, timeout), f"nothing on {topic}"
            return self._got.pop(topic)


@pytest.mark.slow
def test_any_payload_arrives_byte_identical(embedded: BrokerBase, topic: str) -> None:
    inbox = Inbox()
    numbers = itertools.count()
    with (
        Subscriber(embedded.url, f"{topic}/#", inbox, qos=1, max_queue_size=64) as sub,
        Publisher(embedded.url) as pub,
    ):

        @settings(
            max_examples=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(payload=PAYLOADS, qos=st.sampled_from([0, 1]))
        @example(payload=b"", qos=1)
        @example(payload=b"\xff\xfe\x00\xc3\x28", qos=0)  # not UTF-8, a NUL inside
        @example(payload=_sized(b"fifty", 50 * MB), qos=1)
        def arrives_as_sent(payload: bytes, qos: int) -> None:
            where = f"{topic}/{next(numbers)}"
            pub.publish(where, payload, qos=qos, timeout=120)
            got = inbox.take(where, timeout=120)
            assert len(got) == len(payload)
            assert got == payload

        arrives_as_sent()
        final = sub.stop()
    assert final.accounted
    assert final.dropped == 0
    assert final.failed == 0
