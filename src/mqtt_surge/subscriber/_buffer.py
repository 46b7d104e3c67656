"""The bounded buffer between the network thread and the workers, and its overflow policies.

It is also the bookkeeper: every item that enters is in exactly one state at any moment
(queued, in flight, processed, failed, dropped, abandoned), and every move between states happens
under one lock, so a snapshot always satisfies
``received == processed + failed + dropped + abandoned + queued + in_flight``.

Lanes: with ``lanes > 1`` each lane is a FIFO served by one worker (per-topic ordering); the bound
and the overflow policy apply to the buffer as a whole, and ``drop_oldest`` evicts the oldest item
of any lane.

Waking workers is what costs, not moving items: every hand-over of the GIL between the network
thread and a worker costs more than a fast callback. So a worker woken from idle lingers up to
``linger`` seconds (or until ``max_batch`` items are queued) and then takes a batch, and the
network thread wakes at most one idle worker at a time. A batch is sized to about
``BATCH_WORK`` seconds of callback time (measured as ``item_cost``), so slow callbacks are shared
out one by one among the workers while fast ones go in batches of up to ``max_batch``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Generic, Literal, TypeVar, cast, get_args

from ._checks import check_choice, check_positive
from ._stats import Stats

T = TypeVar("T")
Overflow = Literal["drop_oldest", "drop_newest", "block"]
OVERFLOW_POLICIES: tuple[str, ...] = get_args(Overflow)
HIGH_WATER = 0.8
BATCH_WORK = 0.001  # seconds of callback work one batch should hold
LINGER_WINDOW = 10  # wake-ups closer than this many lingers apart mean "messages come fast"


class BufferClosed(Exception):
    """Intake is closed; the item was counted as received and abandoned."""


class Buffer(Generic[T]):
    """Bounded FIFO (per lane) with an overflow policy; O(1) per item with one lane."""

    def __init__(
        self,
        maxsize: int,
        overflow: Overflow = "drop_oldest",
        lanes: int = 1,
        *,
        max_batch: int = 64,
        linger: float = 0.002,
    ) -> None:
        # the options' own checks: a Buffer is also made directly, by tests and benchmarks
        check_positive("max_queue_size", maxsize)
        check_choice("overflow", overflow, OVERFLOW_POLICIES)
        check_positive("lanes", lanes)
        self.maxsize = maxsize
        self.overflow = overflow
        self._blocking = overflow == "block"
        self.high_water = max(1, int(maxsize * HIGH_WATER))
        self._single = lanes == 1
        # one lane holds items; several hold (sequence, item) so drop_oldest can compare heads
        self._lanes: list[deque[Any]] = [deque() for _ in range(lanes)]
        self.max_batch = max(1, max_batch)
        self.linger = linger
        # seconds per item, as the workers measure it; start by assuming slow, share out early
        self.item_cost = BATCH_WORK
        self._lock = threading.Lock()
        self._idle_cond = [threading.Condition(self._lock) for _ in range(lanes)]
        self._idle = [0] * lanes
        self._wake_pending = [False] * lanes
        self._linger_cond = [threading.Condition(self._lock) for _ in range(lanes)]
        self._lingering = [False] * lanes
        self._last_wake = [float("-inf")] * lanes
        self._not_full = threading.Condition(self._lock)
        self._settled = threading.Condition(self._lock)
        self._closed = False
        self.abandoning = False
        self._high_since: float | None = None
        self._seq = 0
        self.size = 0
        self._received = self._processed = self._failed = 0
        self._dropped = self._abandoned = self._in_flight = self._max_depth = 0
        self._tallies: list[list[int]] = []

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, item: T, lane: int = 0) -> T | None:
        """Add ``item``; return the item dropped to make room (or ``item`` itself), else None.

        ``block`` waits for room instead. Raises :class:`BufferClosed` once intake is closed.
        """
        # the network thread runs this for every message: keep the common path short
        with self._lock:
            # a put blocked for room has not been received yet: it waits before it is counted
            while self.size >= self.maxsize and self._blocking and not self._closed:
                self._not_full.wait()
            self._received += 1
            if self._closed:
                self._abandoned += 1
                raise BufferClosed
            dropped: T | None = None
            if self.size >= self.maxsize:
                if self.overflow == "drop_oldest":
                    dropped = self._pop_oldest()
                else:
                    self._dropped += 1
                    return item
            queue = self._lanes[lane]
            if self._single:
                queue.append(item)
            else:
                self._seq += 1
                queue.append((self._seq, item))
            size = self.size = self.size + 1
            if size > self._max_depth:  # noqa: PLR1730 - a call to max() costs more, per message
                self._max_depth = size
            if size >= self.high_water and self._high_since is None:
                self._high_since = time.monotonic()
            if self._lingering[lane]:
                if len(queue) >= self.max_batch:
                    self._linger_cond[lane].notify()
            elif self._idle[lane] and not self._wake_pending[lane]:
                self._wake(lane)
            return dropped

    def _pop_oldest(self) -> T:
        self.size -= 1
        self._dropped += 1
        if self._single:
            return cast(T, self._lanes[0].popleft())
        # lanes keep (sequence, item): the oldest is the smallest sequence at any lane's head
        oldest = min((q for q in self._lanes if q), key=lambda q: q[0][0])
        return cast(T, oldest.popleft()[1])

    def high_for(self) -> float:
        """Seconds the buffer has stayed at or above 80% full (0.0 if it is below)."""
        since = self._high_since
        return 0.0 if since is None else time.monotonic() - since

    def _wake(self, lane: int) -> None:
        self._wake_pending[lane] = True
        self._idle_cond[lane].notify()

    def tally(self) -> list[int]:
        """A worker's ``[processed, failed]`` for the batch in its hands, counted as it goes.

        The worker alone writes it, without the lock (a lock per item would cost more than a
        fast callback); :meth:`get_batch` moves it into the counters, and :meth:`counts` reads it
        as it stands, so a snapshot is exact even while a worker is stuck mid-batch.
        """
        with self._lock:
            tally = [0, 0]
            self._tallies.append(tally)
            return tally

    def get_batch(
        self, lane: int = 0, ok: int = 0, failed: int = 0, tally: list[int] | None = None
    ) -> list[T]:
        """Report the previous batch (``ok`` processed, ``failed``, plus what ``tally`` holds),
        then take the next one.

        Blocks while the lane is empty; returns ``[]`` once intake is closed and the lane is empty
        (or abandoned): the worker's signal to end.
        """
        with self._lock:
            if tally is not None:
                ok += tally[0]
                failed += tally[1]
                tally[0] = tally[1] = 0
            self._finish(ok, failed, 0)
            queue = self._lanes[lane]
            while not queue:
                if self._closed:
                    return []
                self._idle[lane] += 1
                self._idle_cond[lane].wait()
                self._idle[lane] -= 1
                self._wake_pending[lane] = False
                # linger only while messages come fast (the last wake-up was recent): a lone
                # message after a quiet spell goes to its callback at once
                now = time.monotonic()
                busy = now - self._last_wake[lane] < LINGER_WINDOW * self.linger
                self._last_wake[lane] = now
                if (
                    busy
                    and queue
                    and len(queue) < self.max_batch
                    and self.linger > 0
                    and not self._lingering[lane]
                    and not self._closed
                ):
                    self._lingering[lane] = True
                    self._linger_cond[lane].wait(self.linger)
                    self._lingering[lane] = False
            cost = self.item_cost
            share = int(BATCH_WORK / cost) if cost > 0 else self.max_batch
            n = min(len(queue), self.max_batch, max(1, share))
            pop = queue.popleft
            batch = [pop() for _ in range(n)] if self._single else [pop()[1] for _ in range(n)]
            self.size -= n
            self._in_flight += n
            if self.size < self.high_water:
                self._high_since = None
            if self.overflow == "block":
                self._not_full.notify(n)
            if queue:
                # a backlog this worker cannot take soon: hand it to another
                if self._idle[lane] and not self._wake_pending[lane] and not self._lingering[lane]:
                    self._wake(lane)
            else:
                self._settled.notify_all()
            return batch

    def report(self, ok: int = 0, failed: int = 0, abandoned: int = 0) -> None:
        """Account for in-flight items that finished (or were given up) outside ``get_batch``."""
        with self._lock:
            self._finish(ok, failed, abandoned)

    def _finish(self, ok: int, failed: int, abandoned: int) -> None:
        done = ok + failed + abandoned
        if done:
            self._processed += ok
            self._failed += failed
            self._abandoned += abandoned
            self._in_flight -= done
            if not self._in_flight:
                self._settled.notify_all()

    def close(self) -> None:
        """Stop intake: later puts raise BufferClosed; workers drain what is queued, then end."""
        with self._lock:
            self._closed = True
            self._wake_all()

    def _wake_all(self) -> None:
        for cond in (*self._idle_cond, *self._linger_cond, self._not_full):
            cond.notify_all()

    def abandon_queued(self) -> list[T]:
        """Close, remove everything still queued and count it abandoned; return the items."""
        with self._lock:
            self._closed = True
            self.abandoning = True
            if self._single:
                items = list(self._lanes[0])
            else:
                items = [item for queue in self._lanes for _, item in queue]
            for queue in self._lanes:
                queue.clear()
            self._abandoned += len(items)
            self.size = 0
            self._wake_all()
            self._settled.notify_all()
            return items

    def wait_idle(self, timeout: float | None) -> bool:
        """Wait until nothing is queued or in flight; True if so within ``timeout``."""
        with self._lock:
            return self._settled.wait_for(lambda: not self.size and not self._in_flight, timeout)

    def counts(self) -> Stats:
        with self._lock:
            ok = sum(t[0] for t in self._tallies)
            failed = sum(t[1] for t in self._tallies)
            return Stats(
                received=self._received,
                processed=self._processed + ok,
                failed=self._failed + failed,
                dropped=self._dropped,
                abandoned=self._abandoned,
                queued=self.size,
                in_flight=self._in_flight - ok - failed,
                max_queue_depth=self._max_depth,
            )
