"""Random bytes and half-open sockets sent to the embedded broker (fuzzed with hypothesis).

Whatever one connection sends (nothing, noise, a CONNECT then noise, a packet cut short) and
whether it then closes or just goes silent, the broker goes on serving its other clients, and
``stop()`` returns within 2 s with every such socket still open. A server that receives a
malformed packet closes that connection (3.1.1 [MQTT-4.8.0-1], MQTT 5 section 4.13): it never
takes the others down with it.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mqtt_surge import EmbeddedBroker, Message, Subscriber
from mqtt_surge.runtime.wire import encode_connect
from mqtt_surge.testing import Publisher

from .._support import WAIT, thread_idents, threads_started_since

STOP_BOUND = 2.0


def _connect_v5(client_id: str) -> bytes:
    # CONNECT, protocol level 5, clean start, keepalive 60, no properties
    body = (
        b"\x00\x04MQTT\x05\x02\x00\x3c\x00" + struct.pack("!H", len(client_id)) + client_id.encode()
    )
    return b"\x10" + bytes([len(body)]) + body


PREFIXES = {
    "nothing": b"",
    "connect-3.1.1": encode_connect("garbage-4"),
    "connect-5": _connect_v5("garbage-5"),
    # a fixed header that promises 2 MB then stops: the broker must wait, not hang its loop
    "promise": b"\x30\x80\x80\x80\x01",
    "max-remaining-length": b"\x30\xff\xff\xff\x7f",
    "bad-remaining-length": b"\x30\xff\xff\xff\xff\x01",
}


class Flow:
    """A subscriber and a publisher of the broker's other clients: one message there and back."""

    def __init__(self, broker: EmbeddedBroker) -> None:
        self._got: list[bytes] = []
        self._cond = threading.Condition()
        self.sub = Subscriber(broker.url, "garbage/flow", self._on, qos=1).start()
        self.pub = Publisher(broker.url).connect()
        self._n = 0

    def _on(self, message: Message) -> None:
        with self._cond:
            self._got.append(message.payload)
            self._cond.notify_all()

    def check(self) -> None:
        self._n += 1
        payload = str(self._n).encode()
        self.pub.publish("garbage/flow", payload, qos=1)
        with self._cond:
            ok = self._cond.wait_for(lambda: payload in self._got, WAIT)
        assert ok, "the broker stopped serving its other clients"

    def close(self) -> None:
        self.pub.close()
        final = self.sub.stop()
        assert final.accounted
        assert final.processed == self._n


@pytest.mark.slow
def test_noise_on_one_connection_never_takes_the_broker_down_for_others() -> None:
    threads_before = thread_idents()
    broker = EmbeddedBroker().start()
    held: list[socket.socket] = []  # half-open: sent their bytes, never closed, never read
    try:
        flow = Flow(broker)

        @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(
            prefix=st.sampled_from(sorted(PREFIXES)),
            noise=st.binary(max_size=2048),
            leave_open=st.booleans(),
            reset=st.booleans(),
        )
        @example(prefix="nothing", noise=b"", leave_open=True, reset=False)
        @example(prefix="connect-3.1.1", noise=b"\x10\x00", leave_open=False, reset=False)
        @example(prefix="connect-5", noise=b"\x82\x00", leave_open=True, reset=False)
        @example(prefix="promise", noise=b"x" * 100, leave_open=True, reset=False)
        def survives(prefix: str, noise: bytes, leave_open: bool, reset: bool) -> None:
            sock = socket.create_connection((broker.url.host, broker.url.port), timeout=WAIT)
            with contextlib.suppress(OSError):  # the broker closed on the first bad byte: allowed
                sock.sendall(PREFIXES[prefix] + noise)
            if leave_open:
                held.append(sock)
            else:
                if reset:  # an abortive close (RST), as a crashed client leaves it
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
            flow.check()

        survives()
        flow.close()
        # a newcomer still gets in after all of it
        with Publisher(broker.url) as late:
            late.publish("garbage/late", b"x", qos=1)
        assert len(held) > 10
    finally:
        started = time.monotonic()
        broker.stop()
        took = time.monotonic() - started
        for sock in held:
            sock.close()
    assert took < STOP_BOUND, f"stop() took {took:.2f}s with {len(held)} half-open sockets"
    assert not broker.running
    assert threads_started_since(threads_before) == []


def test_stop_returns_promptly_with_many_half_open_sockets() -> None:
    broker = EmbeddedBroker().start()
    held = []
    try:
        for i in range(60):
            sock = socket.create_connection((broker.url.host, broker.url.port), timeout=WAIT)
            # silent, a fixed header only, a CONNECT and then silence (a session, never read)
            sock.sendall([b"", b"\x10", encode_connect(f"half-{i}")][i % 3])
            held.append(sock)
        with Publisher(broker.url) as pub:  # the broker serves others meanwhile
            pub.publish("half/open", b"x", qos=1)
    finally:
        started = time.monotonic()
        broker.stop()
        took = time.monotonic() - started
        for sock in held:
            sock.close()
    assert took < STOP_BOUND, f"stop() took {took:.2f}s with 60 half-open sockets"


@pytest.mark.parametrize(
    "data",
    [PREFIXES["bad-remaining-length"], encode_connect("twice") * 2, b"\x00\x00"],
    ids=["remaining-length-over-4-bytes", "second-connect", "reserved-packet-type"],
)
def test_a_malformed_stream_is_closed_by_the_broker(data: bytes) -> None:
    """[MQTT-4.8.0-1] (a malformed packet), [MQTT-3.1.0-2] (a second CONNECT), and packet
    type 0 (reserved, 3.1.1 section 2.2.1): the broker closes that network connection."""
    with (
        EmbeddedBroker() as broker,
        socket.create_connection((broker.url.host, broker.url.port), timeout=WAIT) as sock,
    ):
        sock.sendall(data)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
        else:
            raise AssertionError("the broker kept the connection open")
