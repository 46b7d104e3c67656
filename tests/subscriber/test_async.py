"""async def callbacks: on the caller's running loop, else on the subscriber's own loop thread,
never asyncio.run() per message; bounded by max_concurrency."""

from __future__ import annotations

import asyncio
import gc
import threading
import warnings

import pytest

from mqtt_surge import AsyncioLoopWarning, Message, Subscriber
from mqtt_surge.brokers import BrokerBase
from mqtt_surge.testing import Publisher

from .._support import WAIT, thread_names, wait_until


@pytest.mark.asyncio
async def test_async_callbacks_run_on_the_callers_loop(broker: BrokerBase, topic: str) -> None:
    loop = asyncio.get_running_loop()
    seen_loops: list[asyncio.AbstractEventLoop] = []
    got = asyncio.Event()

    async def handle(message: Message) -> None:
        seen_loops.append(asyncio.get_running_loop())
        if len(seen_loops) == 3:
            got.set()

    with warnings.catch_warnings():
        warnings.simplefilter("error", AsyncioLoopWarning)  # async callback: no warning
        sub = Subscriber(broker=broker.url, topic=topic, callback=handle)
        await asyncio.to_thread(sub._start, True, 10.0, loop)
    try:
        with Publisher(broker.url) as pub:
            for i in range(3):
                pub.publish(topic, str(i), qos=1)
        await asyncio.wait_for(got.wait(), WAIT)
    finally:
        await sub.astop()
    assert seen_loops == [loop, loop, loop]
    assert sub.stats().processed == 3


def test_async_callbacks_without_a_loop_get_the_subscribers_own(
    embedded: BrokerBase, topic: str
) -> None:
    threads: list[str] = []
    done = threading.Event()

    async def handle(message: Message) -> None:
        await asyncio.sleep(0)
        threads.append(threading.current_thread().name)
        done.set()

    with Subscriber(broker=embedded.url, topic=topic, callback=handle) as sub:
        assert any(name.startswith("mqtt-surge-loop") for name in thread_names())
        with Publisher(embedded.url) as pub:
            pub.publish(topic, b"x", qos=1)
        assert done.wait(WAIT)
    assert threads[0].startswith("mqtt-surge-loop")
    assert [n for n in thread_names() if n.startswith(("mqtt-surge-loop", "mqtt-surge-w"))] == []
    assert sub.stats().processed == 1


def test_max_concurrency_bounds_running_coroutines(embedded: BrokerBase, topic: str) -> None:
    running = 0
    peak = 0
    release = threading.Event()
    lock = threading.Lock()

    async def handle(message: Message) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        await asyncio.get_running_loop().run_in_executor(None, release.wait, WAIT)
        with lock:
            running -= 1

    sub = Subscriber(
        broker=embedded.url, topic=topic, callback=handle, max_concurrency=3, worker_threads=4
    ).start()
    try:
        with Publisher(embedded.url) as pub:
            pub.burst(topic, 10, qos=1)
        wait_until(lambda: running == 3, what="three coroutines running")
        wait_until(lambda: sub.stats().received == 10, what="all ten received")
        stats = sub.stats()
        assert stats.in_flight >= 3
        assert peak == 3
    finally:
        release.set()
        final = sub.stop()
    assert peak == 3
    assert final.processed == 10
    assert final.accounted


def test_async_callback_exceptions_are_counted(embedded: BrokerBase, topic: str) -> None:
    errors: list[BaseException] = []

    async def handle(message: Message) -> None:
        raise ValueError(message.payload.decode())

    with Subscriber(
        broker=embedded.url, topic=topic, callback=handle, on_error=lambda e, m: errors.append(e)
    ) as sub:
        with Publisher(embedded.url) as pub:
            pub.publish(topic, b"boom", qos=1)
        wait_until(lambda: sub.stats().failed == 1)
    assert isinstance(errors[0], ValueError)
    assert str(errors[0]) == "boom"


@pytest.mark.asyncio
async def test_sync_callback_in_a_running_loop_warns_once(embedded: BrokerBase, topic: str) -> None:
    sub = Subscriber(broker=embedded.url, topic=topic, callback=lambda m: None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sub.start()
        sub.start()  # already running: no second warning
    await sub.astop()
    loop_warnings = [w for w in caught if w.category is AsyncioLoopWarning]
    assert [str(w.message) for w in loop_warnings] == [
        "Detected asyncio event loop. Consider using an async callback."
    ]


def test_named_loop_is_used(embedded: BrokerBase, topic: str) -> None:
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()
    seen: list[asyncio.AbstractEventLoop] = []
    done = threading.Event()

    async def handle(message: Message) -> None:
        seen.append(asyncio.get_running_loop())
        done.set()

    try:
        with Subscriber(broker=embedded.url, topic=topic, callback=handle, loop=loop):
            with Publisher(embedded.url) as pub:
                pub.publish(topic, b"x", qos=1)
            assert done.wait(WAIT)
        assert seen == [loop]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        runner.join(WAIT)
        loop.close()


def test_stop_gives_up_running_and_queued_coroutines(embedded: BrokerBase, topic: str) -> None:
    """Coroutines handed to the loop but not started yet (beyond max_concurrency) are closed and
    counted as abandoned at a stop that times out, like those running."""
    running = threading.Semaphore(0)

    async def stuck(message: Message) -> None:
        running.release()
        await asyncio.Event().wait()  # never set: only cancellation ends it

    sub = Subscriber(
        broker=embedded.url, topic=topic, callback=stuck, max_concurrency=2, worker_threads=1
    ).start()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Publisher(embedded.url) as pub:
            pub.burst(topic, 10, qos=1)
        wait_until(lambda: sub.stats().received == 10, what="all ten received")
        for _ in range(2):
            assert running.acquire(timeout=WAIT)
        # two run and two more wait on the loop (the window is twice the bound): the runner's
        # own queue, which nothing outside the engine room reads
        runner = sub._part._pipeline.runner()  # type: ignore[union-attr]
        assert runner is not None
        wait_until(lambda: len(runner._queued) == 2, what="two queued on the loop")
        final = sub.stop(timeout=0.5)
        gc.collect()  # an unclosed coroutine warns when it is collected
    assert not running.acquire(timeout=0.2), "a queued coroutine started after the stop"
    assert (final.processed, final.abandoned) == (0, 10)
    assert final.accounted
    assert not [w for w in caught if "never awaited" in str(w.message)]
