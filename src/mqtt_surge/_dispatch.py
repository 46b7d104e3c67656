"""Worker threads that take batches from the buffer, and async callbacks handed to an event loop.

The engine room knows nothing of MQTT: an item goes in, ``process(item)`` runs, and ``after(item,
error)`` is told how it ended (the subscriber acks and reports there). ``process`` may return an
awaitable; it then runs on the event loop under a concurrency bound, and the worker moves on
(or, with ordered lanes, waits for it so that one lane stays in order).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from ._buffer import Buffer

T = TypeVar("T")
logger = logging.getLogger("mqtt_surge")

Process = Callable[[T], Any]
After = Callable[[T, "BaseException | None"], None]


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


class AsyncRunner(Generic[T]):
    """Runs awaitables on ``loop``, at most ``max_concurrency`` at a time.

    The bound is a semaphore the worker acquires before handing work over, so a full bound stops
    the workers and the backlog stays in the buffer, where the overflow policy applies.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        max_concurrency: int,
        buffer: Buffer[T],
        after: After[T],
    ) -> None:
        self.loop = loop
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._buffer = buffer
        self._after = after
        self._lock = threading.Lock()
        self._pending: set[concurrent.futures.Future[Any]] = set()

    def submit(self, item: T, awaitable: Awaitable[Any], wait: bool) -> None:
        self._slots.acquire()
        try:
            future = asyncio.run_coroutine_threadsafe(_await(awaitable), self.loop)
        except RuntimeError as exc:  # the loop is closed
            self._slots.release()
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            self._buffer.report(failed=1)
            self._after(item, exc)
            return
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(lambda f: self._done(item, f))
        if wait:
            concurrent.futures.wait([future])

    def _done(self, item: T, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._pending.discard(future)
        self._slots.release()
        if future.cancelled():
            self._buffer.report(abandoned=1)
            return
        error = future.exception()
        if error is None:
            self._buffer.report(ok=1)
        else:
            self._buffer.report(failed=1)
        self._after(item, error)

    def wait(self, timeout: float | None) -> bool:
        """Wait for every submitted awaitable; True if all finished within ``timeout``."""
        with self._lock:
            pending = list(self._pending)
        _, not_done = concurrent.futures.wait(pending, timeout)
        return not not_done

    def cancel(self) -> int:
        """Cancel what is still running; each counts as abandoned. Returns how many."""
        with self._lock:
            pending = list(self._pending)
        return sum(future.cancel() for future in pending)


class Dispatcher(Generic[T]):
    """``workers`` threads; with ``ordered`` each serves its own lane of the buffer."""

    def __init__(
        self,
        buffer: Buffer[T],
        process: Process[T],
        after: After[T],
        *,
        workers: int,
        ordered: bool,
        runner: Callable[[], AsyncRunner[T]],
        name: str,
    ) -> None:
        self._buffer = buffer
        self._process = process
        self._after = after
        self._ordered = ordered
        self._runner_factory = runner
        self._threads = [
            threading.Thread(
                target=self._work, args=(i if ordered else 0,), name=f"{name}-{i}", daemon=True
            )
            for i in range(workers)
        ]

    @property
    def threads(self) -> list[threading.Thread]:
        return list(self._threads)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join(self, timeout: float | None) -> bool:
        """Join the workers (they end once the buffer is closed and drained or abandoned)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        current = threading.current_thread()
        for thread in self._threads:
            if thread is current or not thread.is_alive():
                continue
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads if t is not current)

    def _work(self, lane: int) -> None:
        buffer, process, after = self._buffer, self._process, self._after
        clock = time.perf_counter
        ok = failed = 0
        while True:
            batch = buffer.get_batch(lane, ok, failed)
            if not batch:
                return
            ok = failed = 0
            started = clock()
            for index, item in enumerate(batch):
                if buffer.abandoning:
                    buffer.report(abandoned=len(batch) - index)
                    break
                try:
                    result = process(item)
                except Exception as exc:
                    failed += 1
                    after(item, exc)
                    continue
                if result is not None and inspect.isawaitable(result):
                    # the runner accounts for it when the awaitable finishes
                    self._runner_factory().submit(item, result, wait=self._ordered)
                    continue
                ok += 1
                after(item, None)
            # how long an item takes sizes the next batches (a racy average is good enough)
            cost = (clock() - started) / len(batch)
            buffer.item_cost = 0.7 * buffer.item_cost + 0.3 * cost
