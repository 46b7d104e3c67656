"""The subscriber's own logic on the fake transport: no broker, no network, a few seconds in all.

Lifecycle, routing, acks, overflow and stop, each driven by a FakeBroker from the test's thread.
What the fake cannot show (the wire, keepalive, reconnect back-off, a broker's redelivery) is
tested against real brokers in tests/subscriber and tests/reliability.
"""

from __future__ import annotations

import asyncio
import threading
import time
import warnings

import pytest

from mqtt_surge import (
    ConfigError,
    ConnectError,
    Message,
    QueueFullWarning,
    SubscribeError,
    Subscriber,
)
from mqtt_surge.runtime.lifecycle import State
from mqtt_surge.subscriber import SubscriberOptions
from mqtt_surge.testing import Recorder
from mqtt_surge.transports.fake import FakeBroker

from .._support import WAIT, Gate, thread_idents, threads_started_since, wait_until


def _sub(fake: FakeBroker, callback: object = None, **options: object) -> Subscriber:
    return Subscriber("fake-broker", "t/#", callback or Recorder(), engine=fake, **options)  # type: ignore[arg-type]


# -- lifecycle -------------------------------------------------------------------------------------


def test_states_from_new_to_stopped_and_a_restart_counts_anew() -> None:
    fake = FakeBroker()
    seen = Recorder()
    sub = _sub(fake, seen)
    assert sub.state is State.NEW
    assert not sub.running
    assert sub.stop() == sub.stats()  # before start: nothing to do
    assert sub.start() is sub
    assert sub.state is State.RUNNING
    assert sub.running
    assert "running" in repr(sub)
    fake.publish("t/1", b"a")
    seen.wait_for(1)
    first = sub.stop()
    assert sub.state is State.STOPPED
    assert (first.received, first.processed) == (1, 1)
    assert sub.stop() == first  # idempotent
    sub.start()
    assert sub.stats().received == 0  # a new start counts anew
    assert len(fake.transports) == 2
    assert fake.transports[0].closed
    assert fake.transport.settings.client_id == fake.transports[0].settings.client_id
    sub.stop()


def test_a_refused_connect_fails_start_at_once_and_leaves_nothing_running() -> None:
    before = thread_idents()
    sub = _sub(FakeBroker(refuse=5))
    started = time.monotonic()
    with pytest.raises(ConnectError) as caught:
        sub.start(timeout=WAIT)
    assert time.monotonic() - started < WAIT / 2  # the refusal, not the timeout
    assert caught.value.reason == "not_authorized"
    assert sub.state is State.STOPPED
    assert threads_started_since(before) == []


def test_an_unreachable_broker_fails_start_naming_it() -> None:
    with pytest.raises(ConnectError) as caught:
        _sub(FakeBroker(unreachable=True)).start(timeout=WAIT)
    assert caught.value.reason == "unreachable"
    assert "fake-broker" in str(caught.value)


def test_a_rejected_filter_fails_start() -> None:
    with pytest.raises(SubscribeError, match="t/#"):
        _sub(FakeBroker(reject=["t/#"])).start()


def test_from_options_shares_checked_options() -> None:
    fake = FakeBroker()
    options = SubscriberOptions(broker="fake", topic="t/#", callback=print, engine=fake)
    a, b = Subscriber.from_options(options), Subscriber.from_options(options)
    assert a.options is b.options
    assert a.client_id != b.client_id  # each its own session at the broker
    assert a.engine == "fake"
    with pytest.raises(ConfigError, match="max_queue_size"):
        SubscriberOptions(broker="fake", topic="t/#", callback=print, max_queue_size=0)


# -- routing ---------------------------------------------------------------------------------------


def test_routes_by_filter_and_the_default_callback_takes_the_rest() -> None:
    fake = FakeBroker()
    a, b, rest = Recorder(), Recorder(), Recorder()
    sub = Subscriber(
        "fake", "#", rest, callbacks={"a/+": a, "b/#": b}, engine=fake, worker_threads=1
    ).start()
    for topic in ("a/1", "b/x/y", "c", "a/1/deep"):
        fake.publish(topic, topic.encode())
    final = sub.stop()
    assert [m.topic for m in a.messages] == ["a/1"]
    assert [m.topic for m in b.messages] == ["b/x/y"]
    assert sorted(m.topic for m in rest.messages) == ["a/1/deep", "c"]
    assert final.processed == 4
    assert final.accounted


def test_a_message_arrives_whole_with_its_fields() -> None:
    fake = FakeBroker()
    seen = Recorder()
    sub = _sub(fake, seen, qos=1, protocol=5).start()
    mid = fake.publish("t/x", b"\xff\x00", qos=1, retain=True, properties={"a": 1})
    (message,) = seen.wait_for(1)
    sub.stop()
    assert isinstance(message, Message)
    assert (message.topic, message.payload, message.qos, message.retain, message.mid) == (
        "t/x",
        b"\xff\x00",
        1,
        True,
        mid,
    )
    assert message.properties == {"a": 1}


def test_an_async_callback_runs_on_a_loop_of_our_own() -> None:
    fake = FakeBroker()
    loops: list[asyncio.AbstractEventLoop] = []
    done = threading.Event()

    async def handle(message: Message) -> None:
        loops.append(asyncio.get_running_loop())
        done.set()

    sub = _sub(fake, handle).start()
    fake.publish("t/1")
    assert done.wait(WAIT)
    final = sub.stop()
    assert final.processed == 1
    assert final.accounted
    assert loops[0].is_closed()  # the own loop ended with the stop


# -- acks ------------------------------------------------------------------------------------------


def test_after_processing_acks_only_once_the_callback_returned() -> None:
    fake = FakeBroker()
    gate = Gate()
    sub = _sub(fake, gate, qos=1, ack="after_processing", worker_threads=1).start()
    mid = fake.publish("t/1", b"x", qos=1)
    gate.wait_entered()
    assert fake.acks == []  # in the callback: not acknowledged yet
    gate.open()
    assert fake.wait_acks(1) == [(mid, 1)]
    sub.stop()


def test_a_failing_callback_is_acked_counted_and_reported() -> None:
    fake = FakeBroker()
    errors: list[BaseException] = []

    def fail(message: Message) -> None:
        raise ValueError(message.topic)

    sub = _sub(
        fake, fail, qos=1, ack="after_processing", on_error=lambda e, m: errors.append(e)
    ).start()
    fake.publish("t/bad", qos=1)
    fake.wait_acks(1)
    final = sub.stop()
    assert (final.failed, final.processed) == (1, 0)
    assert [str(e) for e in errors] == ["t/bad"]


def test_an_ack_for_a_message_of_an_earlier_connection_is_not_sent() -> None:
    fake = FakeBroker()
    gate = Gate()
    sub = _sub(fake, gate, qos=1, ack="after_processing", worker_threads=1).start()
    old = fake.publish("t/1", qos=1)
    gate.wait_entered()
    fake.drop()  # lost and back while the callback runs: its ack would carry a stale id
    assert sub.stats().reconnects == 1
    gate.open()
    new = fake.publish("t/2", qos=1)
    assert fake.wait_acks(1) == [(new, 1)]
    sub.stop()
    assert fake.stale_acks == [old]


def test_qos0_and_ack_on_receive_send_no_acks_of_ours() -> None:
    fake = FakeBroker()
    seen = Recorder()
    sub = _sub(fake, seen, qos=1).start()  # ack on receipt: the engine's own business
    fake.publish("t/1", qos=1)
    fake.publish("t/2", qos=0)
    seen.wait_for(2)
    sub.stop()
    assert fake.acks == []


# -- overflow --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overflow", "kept"), [("drop_oldest", [b"3", b"4"]), ("drop_newest", [b"1", b"2"])]
)
def test_a_full_buffer_drops_by_its_policy_and_warns(overflow: str, kept: list[bytes]) -> None:
    fake = FakeBroker()
    gate = Gate()
    sub = _sub(fake, gate, max_queue_size=2, worker_threads=1, overflow=overflow).start()
    fake.publish("t/x", b"0")
    gate.wait_entered()  # the one worker holds message 0: the rest queue
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(1, 5):
            fake.publish("t/x", str(i).encode())
    assert [w.category for w in caught] == [QueueFullWarning]  # rate-limited: one
    assert sub.stats().dropped == 2
    assert sub.stats().queue_full_warnings == 1  # counted by category, not by its text
    gate.open()
    final = sub.stop()
    assert gate.passed == [b"0", *kept]
    assert (final.received, final.processed, final.dropped) == (5, 3, 2)
    assert final.accounted


def test_a_dropped_message_is_acked_when_acks_wait_for_processing() -> None:
    fake = FakeBroker()
    gate = Gate()
    sub = _sub(
        fake,
        gate,
        qos=1,
        ack="after_processing",
        overflow="drop_oldest",
        max_queue_size=1,
        worker_threads=1,
    ).start()
    fake.publish("t/x", qos=1)
    gate.wait_entered()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QueueFullWarning)
        queued = fake.publish("t/x", qos=1)
        fake.publish("t/x", qos=1)  # evicts the queued one, which is acked: it is given up
    assert fake.wait_acks(1) == [(queued, 1)]
    gate.open()
    sub.stop()
    assert len(fake.acks) == 3


def test_block_waits_for_room_instead_of_dropping() -> None:
    fake = FakeBroker()
    gate = Gate()
    sub = _sub(fake, gate, max_queue_size=1, worker_threads=1, overflow="block").start()
    fake.publish("t/x", b"0")
    gate.wait_entered()
    fake.publish("t/x", b"1")  # fills the buffer
    blocked = threading.Thread(target=fake.publish, args=("t/x", b"2"))
    blocked.start()
    blocked.join(0.2)
    assert blocked.is_alive()  # the "network thread" waits for room
    gate.open()
    blocked.join(WAIT)
    final = sub.stop()
    assert gate.passed == [b"0", b"1", b"2"]
    assert final.dropped == 0


# -- stop ------------------------------------------------------------------------------------------


def test_stop_drains_what_is_buffered_and_unsubscribes_first() -> None:
    fake = FakeBroker()
    seen = Recorder(lambda m: time.sleep(0.001))  # the work
    sub = _sub(fake, seen, worker_threads=2).start()
    for i in range(200):
        fake.publish("t/x", str(i).encode())
    final = sub.stop()
    assert fake.transport.unsubscribed
    assert (final.processed, final.abandoned) == (200, 0)
    assert len(seen.messages) == 200


def test_a_persistent_session_is_not_unsubscribed_at_stop() -> None:
    fake = FakeBroker()
    sub = _sub(fake, qos=1, clean_session=False, client_id="keep-me").start()
    sub.stop()
    assert not fake.transport.unsubscribed  # the broker keeps the session's messages
    assert fake.transport.closed


def test_stop_with_a_blocked_callback_abandons_the_rest_within_its_budget() -> None:
    fake = FakeBroker()
    gate = Gate()
    sub = _sub(fake, gate, worker_threads=1).start()
    for i in range(5):
        fake.publish("t/x", str(i).encode())
    gate.wait_entered()
    stopping = threading.Thread(target=lambda: sub.stop(timeout=0.2))
    stopping.start()
    pipeline = sub._part._pipeline  # type: ignore[union-attr]  # the drain's state
    assert pipeline is not None
    wait_until(lambda: pipeline.buffer.abandoning, what="the drain's deadline passed")
    gate.open()  # the callback ends within the grace; the rest of its batch is given up
    stopping.join(WAIT)
    assert not stopping.is_alive()
    final = sub.stats()
    assert final.processed >= 1
    assert final.abandoned >= 1
    assert final.processed + final.abandoned == 5
    assert final.accounted


def test_stop_from_inside_a_callback_returns_and_the_stop_finishes() -> None:
    fake = FakeBroker()
    returned = threading.Event()
    holder: list[Subscriber] = []

    def stop_me(message: Message) -> None:
        holder[0].stop()
        returned.set()

    sub = _sub(fake, stop_me)
    holder.append(sub)
    sub.start()
    fake.publish("t/x")
    assert returned.wait(WAIT)
    assert sub.wait_stopped(WAIT)
    final = sub.stats()
    assert final.processed == 1
    assert final.accounted


def test_a_callback_that_raises_system_exit_fails_its_message_and_the_worker_lives() -> None:
    fake = FakeBroker()
    calls: list[bytes] = []

    def exit_once(message: Message) -> None:
        calls.append(message.payload)
        if message.payload == b"exit":
            raise SystemExit(3)

    sub = _sub(fake, exit_once, worker_threads=1).start()
    fake.publish("t/x", b"exit")
    fake.publish("t/x", b"after")
    wait_until(lambda: len(calls) == 2, what="the worker went on after SystemExit")
    final = sub.stop()
    assert (final.failed, final.processed, final.queued, final.in_flight) == (1, 1, 0, 0)
    assert final.accounted


def test_messages_after_intake_closed_are_abandoned_not_lost() -> None:
    fake = FakeBroker()
    sub = _sub(fake).start()
    transport = fake.transport
    sub.stop()
    transport.connected = True  # a late delivery after the stop: the network thread's race
    fake.publish("t/late")
    final = sub.stats()
    assert final.received == 0  # counted once stopped: the final snapshot is frozen
    pipeline = sub._part._pipeline  # type: ignore[union-attr]  # past the frozen snapshot
    assert pipeline is not None
    late = pipeline.stats()
    assert (late.received, late.abandoned) == (1, 1)
    assert late.accounted
