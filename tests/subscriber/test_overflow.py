"""Overflow policies under sequence-numbered bursts, with a callback held at a gate so that
"the workers are busy" is a fact, not a timing guess."""

from __future__ import annotations

import warnings

import pytest

from mqtt_surge import QueueFullWarning, Subscriber, WorkersOverloadedWarning
from mqtt_surge.brokers import BrokerBase
from mqtt_surge.testing import Publisher, unpack_header

from .._support import Gate, wait_until

QUEUE = 10
BURST = 50


def _sequences(payloads: list[bytes]) -> list[int]:
    headers = [unpack_header(p) for p in payloads]
    return [h.sequence for h in headers if h is not None]


def _held(broker: BrokerBase, topic: str, gate: Gate, **options: object) -> Subscriber:
    """A started subscriber with one worker, a QUEUE-slot buffer and the gate as callback."""
    return Subscriber(
        broker=broker.url,
        topic=topic,
        callback=gate,
        max_queue_size=QUEUE,
        worker_threads=1,
        qos=1,
        **options,  # type: ignore[arg-type]
    ).start()


def _held_then_burst(
    broker: BrokerBase, topic: str, overflow: str, gate: Gate, **options: object
) -> Subscriber:
    """Start a subscriber, hold its only worker at the gate on message 0, then burst 1..BURST."""
    sub = _held(broker, topic, gate, overflow=overflow, **options)
    with Publisher(broker.url) as pub:
        pub.burst(topic, 1, qos=1)
        gate.wait_entered()
        pub.burst(topic, BURST, qos=1)
        wait_until(lambda: sub.stats().received == BURST + 1, what="all of the burst received")
    return sub


def test_drop_oldest_keeps_the_newest_and_warns(broker: BrokerBase, topic: str) -> None:
    gate = Gate()
    with pytest.warns(QueueFullWarning, match="dropping message") as warned:
        sub = _held_then_burst(broker, topic, "drop_oldest", gate)
    stats = sub.stats()
    assert stats.queued == QUEUE
    assert stats.dropped == BURST - QUEUE
    assert stats.max_queue_depth == QUEUE
    assert stats.accounted
    gate.open()
    final = sub.stop()
    # message 0 was already in the callback; of the burst 1..50 the newest ten survive
    assert _sequences(gate.passed) == [0, *range(BURST - QUEUE + 1, BURST + 1)]
    assert (final.processed, final.dropped, final.abandoned) == (QUEUE + 1, BURST - QUEUE, 0)
    assert final.accounted
    text = str(warned[0].message)
    assert "max_queue_size=10" in text
    assert "oldest" in text


def test_drop_newest_keeps_the_oldest(broker: BrokerBase, topic: str) -> None:
    gate = Gate()
    with pytest.warns(QueueFullWarning):
        sub = _held_then_burst(broker, topic, "drop_newest", gate)
    gate.open()
    final = sub.stop()
    assert _sequences(gate.passed) == list(range(QUEUE + 1))
    assert final.dropped == BURST - QUEUE
    assert final.accounted


def test_block_loses_nothing(broker: BrokerBase, topic: str) -> None:
    gate = Gate()
    sub = _held(broker, topic, gate, overflow="block")
    with Publisher(broker.url) as pub:
        pub.burst(topic, 1, qos=1)
        gate.wait_entered()
        # QoS 0: the publisher does not wait for the blocked subscriber
        pub.burst(topic, BURST, qos=0)
        wait_until(lambda: sub.stats().queued == QUEUE, what="buffer full")
        assert sub.stats().received == QUEUE + 1  # the network thread waits for room
        gate.open()
        wait_until(lambda: sub.stats().processed == BURST + 1, what="everything processed")
    final = sub.stop()
    assert _sequences(gate.passed) == list(range(BURST + 1))
    assert final.dropped == 0
    assert final.accounted


def test_dropped_qos1_messages_are_acked_with_ack_after_processing(
    mosquitto: BrokerBase, topic: str
) -> None:
    # If drops were not acked, mosquitto would hold them as in flight and, with its default
    # window of 20 unacknowledged messages, stop sending: the burst would never all arrive.
    gate = Gate()
    with pytest.warns(QueueFullWarning):
        sub = _held_then_burst(mosquitto, topic, "drop_oldest", gate, ack="after_processing")
    gate.open()
    final = sub.stop()
    assert final.dropped == BURST - QUEUE
    assert final.processed == QUEUE + 1


def test_workers_overloaded_warning(embedded: BrokerBase, topic: str) -> None:
    gate = Gate()
    sub = _held(embedded, topic, gate)
    try:
        with Publisher(embedded.url) as pub, warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            pub.burst(topic, 1, qos=1)
            gate.wait_entered()
            pub.burst(topic, 9, qos=1)  # 90% full, held there by the gate
            # the warning needs the buffer above 80% for over a second, seen as a message
            # arrives: keep a trickle going until it comes
            wait_until(
                lambda: (
                    bool(pub.burst(topic, 1, qos=1))
                    and any(w.category is WorkersOverloadedWarning for w in warned)
                ),
                timeout=15,
                what="overloaded warning",
            )
        overloaded = [w for w in warned if w.category is WorkersOverloadedWarning]
        assert "worker_threads" in str(overloaded[0].message)
    finally:
        gate.open()
        sub.stop()
