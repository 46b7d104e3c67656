"""Callbacks that misbehave: raise, raise SystemExit, block, or call ``stop()`` themselves.

For each, sync and async, on both client engines: ``stop(timeout)`` returns within timeout + 2 s
(the promise of ``Subscriber.stop``) and the final counts match what the callback itself saw:
every received message is processed, failed, abandoned or still in flight, exactly once.

The bound is the product's promise, not a speed figure: the stop waits by design for the whole
timeout when callbacks block, so the time taken is that timeout plus a fixed grace.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from mqtt_surge import Message, Stats, Subscriber
from mqtt_surge.brokers import BrokerBase
from mqtt_surge.testing import Publisher

from .._support import WAIT, wait_until

TIMEOUT = 1.0
BOUND = TIMEOUT + 2.0
MESSAGES = 30


def _bad(payload: bytes) -> bool:
    return int(payload) % 3 == 1  # ten of the thirty


@dataclass
class Seen:
    """What the callback itself observed, to hold the subscriber's counters against."""

    done: list[bytes] = field(default_factory=list)
    raised: list[bytes] = field(default_factory=list)
    blocked: list[bytes] = field(default_factory=list)
    cancelled: list[bytes] = field(default_factory=list)
    stop_called: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, where: list[Any], value: Any) -> None:
        with self.lock:
            where.append(value)


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Lets callbacks blocked on purpose end once the test is over (their threads are left)."""
    event = threading.Event()
    yield event
    event.set()


def _callback(
    behaviour: str, kind: str, seen: Seen, release: threading.Event, sub: list[Subscriber]
) -> Callable[[Message], Any]:
    def misbehave(payload: bytes) -> None:
        if behaviour == "raises":
            seen.add(seen.raised, payload)
            raise ValueError(f"cannot handle {payload!r}")
        if behaviour == "system_exit":
            seen.add(seen.raised, payload)
            raise SystemExit(3)
        if behaviour == "stops" and not seen.stop_called:
            seen.add(seen.stop_called, time.monotonic())
            sub[0].stop(timeout=TIMEOUT)  # from inside: the stop goes on in the background

    def handle(message: Message) -> None:
        if _bad(message.payload):
            if behaviour == "blocks":
                seen.add(seen.blocked, message.payload)
                release.wait()
                return
            misbehave(message.payload)
        seen.add(seen.done, message.payload)

    async def ahandle(message: Message) -> None:
        if _bad(message.payload):
            if behaviour == "blocks":
                seen.add(seen.blocked, message.payload)
                try:
                    await asyncio.Event().wait()  # never set: only the stop's cancel ends it
                except asyncio.CancelledError:
                    seen.add(seen.cancelled, message.payload)
                    raise
                return
            misbehave(message.payload)
        await asyncio.sleep(0)
        seen.add(seen.done, message.payload)

    return ahandle if kind == "async" else handle


def _timed_stop(sub: Subscriber, seen: Seen) -> tuple[Stats, float]:
    if seen.stop_called:
        # the callback's own stop is under way: its time counts from that call
        assert sub.wait_stopped(WAIT), "the stop started in the callback never ended"
        return sub.stats(), time.monotonic() - seen.stop_called[0]
    started = time.monotonic()
    final = sub.stop(timeout=TIMEOUT)
    return final, time.monotonic() - started


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("behaviour", ["raises", "system_exit", "blocks", "stops"])
def test_a_misbehaving_callback_cannot_stretch_stop_or_skew_the_counts(
    embedded: BrokerBase, topic: str, behaviour: str, kind: str, release: threading.Event
) -> None:
    seen = Seen()
    holder: list[Subscriber] = []
    sub = Subscriber(
        broker=embedded.url,
        topic=topic,
        callback=_callback(behaviour, kind, seen, release, holder),
        qos=1,
        worker_threads=2,
        max_concurrency=4,
    )
    holder.append(sub)
    sub.start()
    with Publisher(embedded.url) as pub:
        for n in range(MESSAGES):
            pub.publish(topic, str(n).encode(), qos=1)
    if behaviour == "stops":
        wait_until(lambda: bool(seen.stop_called), what="the callback called stop()")
    else:
        wait_until(lambda: sub.stats().received == MESSAGES, what="all received")
    if behaviour == "blocks":
        blocked = 2 if kind == "sync" else 4  # every worker / every async slot stuck
        wait_until(lambda: len(seen.blocked) >= blocked, what="the callbacks stuck")

    final, took = _timed_stop(sub, seen)

    assert took < BOUND, f"stop(timeout={TIMEOUT}) took {took:.2f}s"
    assert not sub.running
    assert final.accounted, final
    assert final.queued == 0, final
    assert final.processed == len(seen.done), (final, seen.done)
    if behaviour in ("raises", "system_exit"):
        assert final.received == MESSAGES
        assert final.failed == len(seen.raised) == 10
        assert (final.abandoned, final.in_flight) == (0, 0)
        assert final.processed == 20  # the workers (and the loop) lived on after each failure
    elif behaviour == "stops":
        # a graceful stop from inside: everything received before it took hold is processed
        assert final.failed == 0
        assert (final.abandoned, final.in_flight) == (0, 0)
        assert final.processed == final.received
    elif kind == "sync":
        # a sync callback cannot be interrupted: it stays in flight, its worker left behind,
        # and the rest of the buffer is abandoned
        assert final.failed == 0
        assert final.in_flight >= 2
        assert final.processed + final.abandoned + final.in_flight == MESSAGES
    else:
        # stuck coroutines are cancelled at the end of the grace, each counted abandoned
        wait_until(lambda: len(seen.cancelled) == len(seen.blocked), what="the cancellations")
        assert final.failed == 0
        assert final.in_flight == 0
        assert final.abandoned == MESSAGES - len(seen.done)
        assert len(seen.cancelled) >= 4
