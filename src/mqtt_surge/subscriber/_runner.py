"""Async callbacks run on an event loop under a concurrency bound, fed by the workers.

The workers (:mod:`._dispatch`) hand each awaitable a callback returned to :class:`AsyncRunner`;
it runs on the loop, and when it ends the runner reports it to the buffer and to ``after``. A
SystemExit or KeyboardInterrupt from a callback fails its message (:func:`guarded`) instead of
ending the loop thread.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from ._buffer import Buffer

T = TypeVar("T")
After = Callable[[T, "BaseException | None"], None]
# an awaitable that ended: its item, whether it was given up (cancelled, or never started), its
# error, and who waits for it
_Waiter = concurrent.futures.Future[None]
_Done = tuple[T, bool, "BaseException | None", "_Waiter | None"]


class Escaped:
    """A SystemExit or KeyboardInterrupt that an async callback raised, held as its result.

    asyncio lets those two out of the task and out of ``run_forever``: the loop thread would die
    with every callback on it. Held here, they fail their message like any other error.
    """

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


async def guarded(awaitable: Awaitable[Any]) -> Any:
    """Await ``awaitable``; a SystemExit or KeyboardInterrupt comes back as :class:`Escaped`."""
    try:
        return await awaitable
    except (SystemExit, KeyboardInterrupt) as exc:
        return Escaped(exc)


def failure(task: asyncio.Task[Any]) -> BaseException | None:
    """The error a finished, not cancelled :func:`guarded` task ended with, if any."""
    error = task.exception()
    if error is None:
        result = task.result()
        if isinstance(result, Escaped):
            return result.error
    return error


def close_unrun(awaitable: Awaitable[Any]) -> None:
    """Discard an awaitable that will never run (a coroutine would warn "never awaited")."""
    if inspect.iscoroutine(awaitable):
        awaitable.close()


class AsyncRunner(Generic[T]):
    """Runs awaitables on ``loop``, at most ``max_concurrency`` at a time.

    Workers hand awaitables over through a window of ``2 * max_concurrency`` slots: the loop runs
    ``max_concurrency`` of them and keeps the rest queued, so that when one finishes the next
    starts at once, on the loop thread, instead of after a round trip through a worker thread
    (measured, 1,000 concurrent 10 ms callbacks on the gmqtt engine: 44,000-47,000 msg/s with a
    window equal to the bound, 55,000-57,000 with this one). A full window stops the
    workers, and the backlog stays in the buffer, where the overflow policy applies. Both sides
    work in batches: a worker takes several slots at once and hands a whole batch over with one
    wake-up of the loop (``start``); the loop settles what finished during one pass together
    (one lock round, one wake-up of the waiting workers).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        max_concurrency: int,
        buffer: Buffer[T],
        after: After[T],
    ) -> None:
        self.loop = loop
        self.max_concurrency = max_concurrency
        self._buffer = buffer
        self._after = after
        self._cond = threading.Condition()
        self._free = 2 * max_concurrency
        self._outstanding = 0  # slots taken and not yet released, whoever holds them
        # the rest is touched on the loop thread only
        self._tasks: set[asyncio.Task[Any]] = set()
        self._queued: collections.deque[tuple[T, Awaitable[Any], _Waiter | None]] = (
            collections.deque()
        )
        self._done: list[_Done[T]] = []  # finished in this pass of the loop, not settled yet
        self._settle_scheduled = False

    def take(self, wanted: int, blocking: bool = True) -> int:
        """Take up to ``wanted`` slots: at least one (waiting for it), or none if not
        ``blocking`` and the bound is reached. Give back what goes unused (:meth:`give_back`)."""
        with self._cond:
            while not self._free:
                if not blocking:
                    return 0
                self._cond.wait()
            taken = min(wanted, self._free)
            self._free -= taken
            self._outstanding += taken
            return taken

    def give_back(self, count: int) -> None:
        if count:
            with self._cond:
                self._free += count
                self._outstanding -= count
                self._cond.notify_all()

    def refill(self, wanted: int, handed: list[tuple[T, Awaitable[Any]]]) -> int:
        """Slots for the rest of a worker's batch. At the bound, what the worker holds is started
        first (and ``handed`` emptied), then the worker waits; 0 if a stop gave up meanwhile."""
        taken = self.take(wanted, blocking=False)
        if taken:
            return taken
        if handed:
            self.start(handed.copy())
            handed.clear()
        taken = self.take(wanted)
        if self._buffer.abandoning:
            self.give_back(taken)
            return 0
        return taken

    def end_batch(self, handed: list[tuple[T, Awaitable[Any]]], unused: int) -> None:
        """Start what a worker holds at the end of its batch, and give back its unused slots."""
        if handed and self._buffer.abandoning:  # never start what a stop has given up
            for _, awaitable in handed:
                close_unrun(awaitable)
            self._buffer.report(abandoned=len(handed))
            unused += len(handed)
        elif handed:
            self.start(handed)
        self.give_back(unused)

    def start(self, batch: list[tuple[T, Awaitable[Any]]]) -> None:
        """Run ``batch`` (each with a slot already taken) on the loop."""
        self._start_on_loop(batch, None)

    def submit(self, item: T, awaitable: Awaitable[Any], wait: bool) -> None:
        """Take a slot and run one awaitable; with ``wait``, return once it finished."""
        self.take(1)
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
            for _, awaitable in batch:
                close_unrun(awaitable)
            self._settle([(item, False, exc, finished) for item, _ in batch])

    def _create_tasks(
        self,
        batch: list[tuple[T, Awaitable[Any]]],
        finished: concurrent.futures.Future[None] | None,
    ) -> None:
        self._queued.extend((item, awaitable, finished) for item, awaitable in batch)
        self._run_queued()

    def _run_queued(self) -> None:
        queued, tasks = self._queued, self._tasks
        while queued and len(tasks) < self.max_concurrency:
            item, awaitable, finished = queued.popleft()
            task = self.loop.create_task(guarded(awaitable))
            tasks.add(task)
            task.add_done_callback(functools.partial(self._task_done, item, finished))

    def _task_done(
        self,
        item: T,
        finished: concurrent.futures.Future[None] | None,
        task: asyncio.Task[Any],
    ) -> None:
        self._tasks.discard(task)
        self._run_queued()
        cancelled = task.cancelled()
        self._done.append((item, cancelled, None if cancelled else failure(task), finished))
        self._schedule_settle()

    def _schedule_settle(self) -> None:
        if not self._settle_scheduled:
            # the other tasks that finish in this pass of the loop are settled with this one
            self._settle_scheduled = True
            self.loop.call_soon(self._settle_done)

    def _settle_done(self) -> None:
        self._settle_scheduled = False
        done, self._done = self._done, []
        self._settle(done)

    def _settle(self, done: list[_Done[T]]) -> None:
        abandoned = sum(1 for _, given_up, _, _ in done if given_up)
        failed = sum(1 for _, _, error, _ in done if error is not None)
        self._buffer.report(len(done) - abandoned - failed, failed, abandoned)
        try:
            for item, given_up, error, _ in done:
                if not given_up:
                    self._after(item, error)  # acks and error reports; given-up ones get none
        finally:
            # released last: once wait() sees nothing outstanding, every ack has been sent
            self.give_back(len(done))
            for *_, finished in done:
                if finished is not None:
                    finished.set_result(None)

    def wait(self, timeout: float | None) -> bool:
        """Wait for every awaitable handed over; True if all finished within ``timeout``."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._outstanding, timeout)

    def cancel(self) -> int:
        """Cancel what is still running (each counts as abandoned); returns how many were."""
        with self._cond:
            outstanding = self._outstanding

        def cancel_all() -> None:
            queued, self._queued = self._queued, collections.deque()
            for item, awaitable, finished in queued:  # never started: close, count as abandoned
                close_unrun(awaitable)
                self._done.append((item, True, None, finished))
            self._schedule_settle()
            for task in list(self._tasks):
                task.cancel()

        with contextlib.suppress(RuntimeError):  # the loop is closed: its tasks went with it
            self.loop.call_soon_threadsafe(cancel_all)
        return outstanding
