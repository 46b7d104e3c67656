"""Worker threads that take batches from the buffer, and async callbacks handed to an event loop.

The engine room knows nothing of MQTT: an item goes in, ``process(item)`` runs, and ``after(item,
error)`` is told how it ended (the subscriber acks and reports there). ``process`` may return an
awaitable; it then runs on the event loop under a concurrency bound, and the worker moves on
(or, with ordered lanes, waits for it so that one lane stays in order).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
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
    the workers and the backlog stays in the buffer, where the overflow policy applies. A worker
    hands over a whole batch with one wake-up of the loop (``start``): one
    ``run_coroutine_threadsafe`` per message capped async callbacks near 10,000 msg/s here.
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
        self._settled = threading.Condition()
        self._outstanding = 0  # slots taken and not yet released, whoever holds them
        self._tasks: set[asyncio.Task[Any]] = set()  # touched on the loop thread only

    def acquire(self, blocking: bool = True) -> bool:
        """Take a slot for one awaitable (blocks while ``max_concurrency`` are running)."""
        if not self._slots.acquire(blocking):
            return False
        with self._settled:
            self._outstanding += 1
        return True

    def start(self, batch: list[tuple[T, Awaitable[Any]]]) -> None:
        """Run ``batch`` (each with a slot already taken) on the loop."""
        self._start_on_loop(batch, None)

    def submit(self, item: T, awaitable: Awaitable[Any], wait: bool) -> None:
        """Take a slot and run one awaitable; with ``wait``, return once it finished."""
        self.acquire()
        finished = concurrent.futures.Future[None]() if wait else None
        self._start_on_loop([(item, awaitable)], finished)
        if finished is not None:
            finished.result()

    def _start_on_loop(
        self,
        batch: list[tuple[T, Awaitable[Any]]],
        finished: concurrent.futures.Future[None] | None,
    ) -> None:
        try:
            self.loop.call_soon_threadsafe(self._create_tasks, batch, finished)
        except RuntimeError as exc:  # the loop is closed
            for item, awaitable in batch:
                if inspect.iscoroutine(awaitable):
                    awaitable.close()
                self._finish(item, None, exc)
            if finished is not None:
                finished.set_result(None)

    def _create_tasks(
        self,
        batch: list[tuple[T, Awaitable[Any]]],
        finished: concurrent.futures.Future[None] | None,
    ) -> None:
        for item, awaitable in batch:
            task = self.loop.create_task(_await(awaitable))
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._task_done, item, finished))

    def _task_done(
        self,
        item: T,
        finished: concurrent.futures.Future[None] | None,
        task: asyncio.Task[Any],
    ) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            self._finish(item, task, None)
        else:
            self._finish(item, task, task.exception())
        if finished is not None:
            finished.set_result(None)

    def _finish(self, item: T, task: asyncio.Task[Any] | None, error: BaseException | None) -> None:
        self._slots.release()
        with self._settled:
            self._outstanding -= 1
            if not self._outstanding:
                self._settled.notify_all()
        if task is not None and task.cancelled():
            self._buffer.report(abandoned=1)
            return
        if error is None:
            self._buffer.report(ok=1)
        else:
            self._buffer.report(failed=1)
        self._after(item, error)

    def wait(self, timeout: float | None) -> bool:
        """Wait for every awaitable handed over; True if all finished within ``timeout``."""
        with self._settled:
            return self._settled.wait_for(lambda: not self._outstanding, timeout)

    def cancel(self) -> int:
        """Cancel what is still running (each counts as abandoned); returns how many were."""
        with self._settled:
            outstanding = self._outstanding

        def cancel_all() -> None:
            for task in list(self._tasks):
                task.cancel()

        with contextlib.suppress(RuntimeError):  # the loop is closed: its tasks went with it
            self.loop.call_soon_threadsafe(cancel_all)
        return outstanding


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
            handed: list[tuple[T, Awaitable[Any]]] = []
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
                    runner = self._runner_factory()
                    if self._ordered:  # one lane, one at a time: the lane stays in order
                        runner.submit(item, result, wait=True)
                        continue
                    if not runner.acquire(blocking=False):
                        if handed:  # the bound is reached: let what we hold run first
                            runner.start(handed)
                            handed = []
                        runner.acquire()
                    handed.append((item, result))
                    continue
                ok += 1
                after(item, None)
            if handed:
                self._runner_factory().start(handed)
            # how long an item takes sizes the next batches (a racy average is good enough)
            cost = (clock() - started) / len(batch)
            buffer.item_cost = 0.7 * buffer.item_cost + 0.3 * cost
