"""Worker threads that take batches from the buffer.

The engine room knows nothing of MQTT: an item goes in, ``process(item)`` runs, and ``after(item,
error)`` is told how it ended (the pipeline acks and reports there). ``process`` may return an
awaitable; it is then handed to the :class:`~._runner.AsyncRunner` on the event loop, and the
worker moves on (or, with ordered lanes, waits for it so that one lane stays in order).
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from ._buffer import Buffer
from ._runner import After, AsyncRunner, close_unrun

T = TypeVar("T")
logger = logging.getLogger("mqtt_surge")

Process = Callable[[T], Any]


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
        tally = buffer.tally()  # [processed, failed] of the batch in hand
        while True:
            batch = buffer.get_batch(lane, tally=tally)
            if not batch:
                return
            started = clock()
            handed: list[tuple[T, Awaitable[Any]]] = []
            credit = 0  # slots taken for this batch and not used yet
            runner: AsyncRunner[T] | None = None
            for index, item in enumerate(batch):
                if buffer.abandoning:
                    buffer.report(abandoned=len(batch) - index)
                    break
                try:
                    result = process(item)
                except BaseException as exc:
                    # a callback's SystemExit (or any BaseException) is that message's failure,
                    # not the worker's end: a dead worker would leave its batch in flight for good
                    tally[1] += 1
                    after(item, exc)
                    continue
                if result is not None and inspect.isawaitable(result):
                    # the runner accounts for it when the awaitable finishes
                    runner = self._runner_factory()
                    if self._ordered:  # one lane, one at a time: the lane stays in order
                        runner.submit(item, result, wait=True)
                        continue
                    if not credit:
                        credit = runner.refill(len(batch) - index, handed)
                        if not credit:  # a stop gave up on the batch while we waited
                            close_unrun(result)
                            buffer.report(abandoned=len(batch) - index)
                            break
                    credit -= 1
                    handed.append((item, result))
                    continue
                tally[0] += 1
                after(item, None)
            if runner is not None:
                runner.end_batch(handed, credit)
            # how long an item takes sizes the next batches (a racy average is good enough)
            cost = (clock() - started) / len(batch)
            buffer.item_cost = 0.7 * buffer.item_cost + 0.3 * cost
