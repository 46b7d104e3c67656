"""Graceful stop: drain, abandon, from inside a callback, idempotent; no thread left behind."""

from __future__ import annotations

import gc
import threading

import pytest

from mqtt_surge import Message, Stats, Subscriber
from mqtt_surge.brokers import BrokerBase
from mqtt_surge.testing import Publisher, Recorder

from .._support import (
    WAIT,
    Gate,
    open_fds,
    thread_idents,
    thread_names,
    threads_started_since,
    wait_until,
)


def _ours() -> list[str]:
    return [n for n in thread_names() if n.startswith(("mqtt-surge-w", "mqtt-surge-loop", "paho"))]


def _twenty_held(broker: BrokerBase, topic: str, gate: Gate) -> Subscriber:
    """A subscriber whose only worker is held at the gate, with 20 messages received."""
    sub = Subscriber(broker=broker.url, topic=topic, callback=gate, worker_threads=1, qos=1).start()
    with Publisher(broker.url) as pub:
        pub.burst(topic, 20, qos=1)
        gate.wait_entered()
        wait_until(lambda: sub.stats().received == 20)
    return sub


def test_stop_drains_what_is_buffered(broker: BrokerBase, topic: str) -> None:
    gate = Gate()
    sub = _twenty_held(broker, topic, gate)
    stopper = threading.Thread(target=lambda: results.append(sub.stop(timeout=10)))
    results: list[Stats] = []
    stopper.start()
    gate.open()  # the callbacks can finish: everything buffered is processed
    stopper.join(WAIT * 3)
    (final,) = results
    assert (final.processed, final.abandoned, final.queued, final.in_flight) == (20, 0, 0, 0)
    assert final.accounted
    assert sub.stats() == final


def test_stop_abandons_what_cannot_be_drained_in_time(broker: BrokerBase, topic: str) -> None:
    gate = Gate()
    sub = _twenty_held(broker, topic, gate)

    def open_once_abandoned() -> None:
        # the drain deadline passed and the queue was given up: now let the held callback end
        wait_until(lambda: sub.stats().abandoned == 19, what="the queue abandoned")
        gate.open()

    opener = threading.Thread(target=open_once_abandoned)
    opener.start()
    final = sub.stop(timeout=2)
    opener.join()
    # one message was in the callback and finished in the grace period; the rest were queued
    assert final.processed == 1
    assert final.abandoned == 19
    assert final.in_flight == 0
    assert final.accounted


def test_stop_without_drain(embedded: BrokerBase, topic: str) -> None:
    gate = Gate()
    sub = Subscriber(broker=embedded.url, topic=topic, callback=gate, worker_threads=1).start()
    with Publisher(embedded.url) as pub:
        pub.burst(topic, 5, qos=1)
        gate.wait_entered()
        wait_until(lambda: sub.stats().received == 5)
    gate.open()
    final = sub.stop(drain=False)
    assert final.processed + final.abandoned == 5
    assert final.abandoned >= 1
    assert final.accounted


def test_stop_from_inside_a_callback(broker: BrokerBase, topic: str) -> None:
    returned: list[Stats] = []
    sub: Subscriber

    def handle(message: Message) -> None:
        if message.payload == b"stop":
            returned.append(sub.stop())

    recorder = Recorder(handle)
    sub = Subscriber(broker=broker.url, topic=topic, callback=recorder).start()
    with Publisher(broker.url) as pub:
        pub.publish(topic, b"stop", qos=1)
        recorder.wait_for(1)
    assert sub.wait_stopped(WAIT), "the stop started from the callback never finished"
    assert not sub.running
    assert len(returned) == 1  # it returned (the counters as they were) instead of deadlocking
    final = sub.stats()
    assert final.processed == 1
    assert final.accounted


def test_stop_is_idempotent_and_harmless_before_start(embedded: BrokerBase, topic: str) -> None:
    sub = Subscriber(broker=embedded.url, topic=topic, callback=print)
    assert sub.stop() == Stats()
    sub.start()
    first = sub.stop()
    assert sub.stop() == first
    assert not sub.running


def test_restart_after_stop(embedded: BrokerBase, topic: str) -> None:
    recorder = Recorder()
    sub = Subscriber(broker=embedded.url, topic=topic, callback=recorder)
    for round_ in range(2):
        with sub, Publisher(embedded.url) as pub:
            pub.publish(topic, str(round_), qos=1)
            recorder.wait_for(round_ + 1)
        assert sub.stats().processed == 1  # counters start again with each run
    assert [m.payload for m in recorder.messages] == [b"0", b"1"]


@pytest.mark.slow
def test_two_hundred_start_stop_cycles_leave_nothing_behind(
    embedded: BrokerBase, topic: str
) -> None:
    async_threads = Subscriber(broker=embedded.url, topic=topic, callback=print)
    async_threads.start()
    async_threads.stop()  # warm-up: imports and lazily made objects
    gc.collect()
    threads, fds = thread_idents(), open_fds()
    for i in range(200):
        sub = Subscriber(
            broker=embedded.url,
            topic=topic,
            callback=_async_noop if i % 2 else print,
            worker_threads=2,
        )
        sub.start()
        sub.stop()
    gc.collect()
    assert _ours() == []
    assert threads_started_since(threads) == []
    # a leak grows and stays; an earlier test's leftovers may close. The embedded broker lives in
    # this process and closes its side of the last connection on its own thread, a moment later
    # on a loaded machine (seen once: one fd over, on gmqtt with another process holding a core)
    wait_until(lambda: open_fds() <= fds, what=f"open fds back to {fds}")


async def _async_noop(message: Message) -> None:
    return None


def test_a_graceful_stop_under_traffic_abandons_nothing(mosquitto: BrokerBase, topic: str) -> None:
    # stop() unsubscribes first and drains what the broker sent until its UNSUBACK, instead of
    # counting everything that is still arriving as abandoned. The buffer is large enough that
    # the publisher, flat out, cannot fill it: a drop would be the overflow policy at work, not
    # what this test is about (seen with the gmqtt engine while another process held a core)
    sub = Subscriber(
        broker=mosquitto.url, topic=topic, callback=lambda m: None, max_queue_size=1_000_000
    ).start()
    keep_going = threading.Event()
    keep_going.set()

    def publish_forever() -> None:
        with Publisher(mosquitto.url) as pub:
            while keep_going.is_set():
                pub.burst(topic, 50, qos=0)

    publisher = threading.Thread(target=publish_forever)
    publisher.start()
    try:
        wait_until(lambda: sub.stats().received > 500, what="traffic flowing")
        final = sub.stop()
    finally:
        keep_going.clear()
        publisher.join(WAIT)
    assert final.abandoned == 0
    assert final.processed == final.received
    assert final.accounted


def test_a_persistent_session_keeps_its_subscription_at_stop(
    mosquitto: BrokerBase, topic: str
) -> None:
    client_id = f"keep-{topic[-8:]}"
    options = {"qos": 1, "clean_session": False, "client_id": client_id}
    Subscriber(broker=mosquitto.url, topic=topic, callback=print, **options).start().stop()
    with Publisher(mosquitto.url) as pub:
        pub.publish(topic, b"while away", qos=1)  # the broker keeps it for the session
    recorder = Recorder()
    with Subscriber(broker=mosquitto.url, topic=topic, callback=recorder, **options):
        (message,) = recorder.wait_for(1)
    assert message.payload == b"while away"
