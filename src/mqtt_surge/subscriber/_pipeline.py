"""What happens to a message after the network thread: buffer, workers, router, acks, reports.

One object per start of a subscriber. The transport hands it items (:meth:`Pipeline.enqueue`, on
the network thread); workers take batches from the buffer and route each message to its callbacks
(:meth:`Pipeline.process`); :meth:`Pipeline.after` acknowledges it (``ack="after_processing"``)
and reports a failure. Async callbacks go to an :class:`AsyncRunner` on the event loop that was
running at start (or ``loop=``), else on a loop thread of our own, started on first need.

A stop is a sequence of named phases, each with its own deadline, called in this order by the
subscriber (see ``Subscriber._shutdown``): :meth:`wait_idle` (after UNSUBACK, while the broker
may still deliver), :meth:`close_intake`, :meth:`drain`, :meth:`abandon_queued`,
:meth:`finish_callbacks`, then, once the transport is closed, :meth:`stop_loop`.

Like the buffer and the dispatcher, it imports no client library, pytest or locust.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..mqtt import topics
from ..runtime.errors import QueueFullWarning, WorkersOverloadedWarning
from ..runtime.loop import LoopThread
from ..runtime.warn import Origin, RateLimited
from ._buffer import Buffer, BufferClosed
from ._dispatch import Dispatcher
from ._message import build_message
from ._options import SubscriberOptions
from ._runner import AsyncRunner, Escaped, guarded
from ._stats import Stats
from .transports import Item

logger = logging.getLogger("mqtt_surge")

# A stop's budget past its ``timeout``: callbacks still running at the deadline get STOP_GRACE
# seconds to end, async ones still running then are cancelled and get CANCEL_GRACE more. Both
# are short so that ``stop(timeout)`` returns within timeout + 2 s whatever a callback does.
STOP_GRACE = 1.0
CANCEL_GRACE = 0.5
OVERLOADED_AFTER = 1.0  # seconds above the high-water mark before workers count as overloaded


class Pipeline:
    """Buffer -> workers -> callbacks, and the acks and reports after each message."""

    def __init__(
        self,
        options: SubscriberOptions,
        name: str,
        callback_loop: asyncio.AbstractEventLoop | None,
        origin: Origin | None = None,
    ) -> None:
        self._options = options
        self._name = name
        self._callback_loop = callback_loop
        self._routes = options.routes
        self._callback = options.callback
        self._manual_ack = options.manual_ack
        self._lanes = options.lanes
        self.buffer: Buffer[Item] = Buffer(
            options.max_queue_size, options.overflow_policy, self._lanes,
            max_batch=options.max_batch,
        )  # fmt: skip
        interval = options.warn_interval
        self._warn_full = RateLimited(QueueFullWarning, interval, origin=origin)
        self._warn_overloaded = RateLimited(WorkersOverloadedWarning, interval, origin=origin)
        self._log_failure = RateLimited(None, interval, logging.ERROR)
        self._ack: Callable[[Item], None] | None = None
        self._runner: AsyncRunner[Item] | None = None
        self._runner_lock = threading.Lock()
        self._own_loop: LoopThread | None = None
        self.dispatcher = Dispatcher(
            self.buffer,
            self.process,
            self.after,
            workers=options.worker_threads,
            ordered=options.ordered == "topic",
            runner=self.runner,
            name=f"mqtt-surge-worker-{name}",
        )

    def start(self, ack: Callable[[Item], None]) -> None:
        """Start the workers (and the own loop if a callback is async); ``ack`` acknowledges an
        item to the broker (the transport's)."""
        self._ack = ack
        if self._options.any_async:
            self.runner()  # start the own loop now rather than on the first message
        self.dispatcher.start()

    def stats(self, reconnects: int = 0) -> Stats:
        """The buffer's counts, with the connection's and the warnings' beside them."""
        return dataclasses.replace(
            self.buffer.counts(),
            reconnects=reconnects,
            queue_full_warnings=self._warn_full.issued,
            overloaded_warnings=self._warn_overloaded.issued,
        )

    def threads(self) -> list[threading.Thread]:
        """The threads that run callbacks: workers, and the own loop's."""
        ours = self.dispatcher.threads
        if self._own_loop is not None and self._own_loop.thread is not None:
            ours.append(self._own_loop.thread)
        return ours

    def on_callback_loop(self) -> bool:
        """Whether the caller runs on the event loop of the async callbacks."""
        runner = self._runner
        if runner is None:
            return False
        try:
            return asyncio.get_running_loop() is runner.loop
        except RuntimeError:
            return False

    # -- the network thread ---------------------------------------------------------------------

    def enqueue(self, item: Item) -> None:
        # the transport's network thread: only enqueue here, it is the bottleneck (and a slow
        # one misses keepalives)
        lane = hash(item.topic) % self._lanes if self._lanes > 1 else 0
        buffer = self.buffer
        try:
            dropped = buffer.put(item, lane)
        except BufferClosed:
            return  # counted as abandoned; not acked, so a persistent session gets it again
        if dropped is not None:
            if dropped.qos and self._manual_ack and self._ack is not None:
                # dropped on purpose: acknowledge it, or the broker would send it again
                self._ack(dropped)
            self._warn_full(self._queue_full_text)
        if buffer.size >= buffer.high_water and buffer.high_for() > OVERLOADED_AFTER:
            self._warn_overloaded(self._overloaded_text)

    def _queue_full_text(self, count: int) -> str:
        options = self._options
        policy = {"drop_oldest": "the oldest", "drop_newest": "the newest"}.get(
            self.buffer.overflow, "a"
        )
        return (
            f"{self._who()}: Message queue full, dropping message. {count} dropped since the "
            f"last warning ({policy} each time; max_queue_size={options.max_queue_size}). Raise "
            f"max_queue_size, add worker_threads (now {options.worker_threads}) or make the "
            "callback faster."
        )

    def _who(self) -> str:
        """Which subscriber: its warnings come from threads that are not the caller's."""
        topics = ", ".join(topic for topic, _ in self._options.topics)
        return f"subscriber {self._name!r} on {topics}"

    def _overloaded_text(self, count: int) -> str:
        options = self._options
        return (
            f"{self._who()}: Workers overloaded: the buffer has stayed above 80% of max_queue_size "
            f"({options.max_queue_size}) for {self.buffer.high_for():.1f}s, so messages arrive "
            f"faster than {options.worker_threads} worker_threads process them. Raise "
            f"worker_threads or make the callback faster ({count} checks since the last warning)."
        )

    # -- the workers ------------------------------------------------------------------------------

    def process(self, item: Item) -> Any:
        """Route one message to its callbacks; an awaitable if any of them is async."""
        message = build_message(item)
        if not self._routes:
            assert self._callback is not None
            return self._callback(message)
        matched = [fn for f, fn in self._routes if topics.matches(f, message.topic)]
        if not matched:
            if self._callback is None:
                return None  # subscribed, but no route for it: processed, nothing to do
            matched = [self._callback]
        results = [fn(message) for fn in matched]
        awaitables = [r for r in results if inspect.isawaitable(r)]
        if not awaitables:
            return None
        if len(awaitables) == 1:
            return awaitables[0]
        return _gather(awaitables)

    def after(self, item: Item, error: BaseException | None) -> None:
        """A message is done: ack it if acks wait for processing, report it if it failed."""
        if item.qos and self._manual_ack and self._ack is not None:
            self._ack(item)
        if error is None:
            return
        message = build_message(item)
        self._log_failure(
            lambda n: (
                f"callback failed on topic {message.topic!r} ({n} failure(s) since the "
                f"last report): {error!r}"
            ),
            exc_info=error,
        )
        on_error = self._options.on_error
        if on_error is not None:
            try:
                on_error(error, message)
            except Exception:
                logger.exception("on_error hook raised")

    def runner(self) -> AsyncRunner[Item]:
        """The async runner, made (with a loop thread of our own if needed) on first use."""
        if self._runner is None:
            with self._runner_lock:
                if self._runner is None:
                    loop = self._callback_loop
                    if loop is None:
                        self._own_loop = LoopThread(f"mqtt-surge-loop-{self._name}")
                        loop = self._own_loop.start()
                    self._runner = AsyncRunner(
                        loop, self._options.max_concurrency, self.buffer, self.after
                    )
        return self._runner

    # -- a stop, phase by phase -----------------------------------------------------------------

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is queued or in flight (intake still open)."""
        return self.buffer.wait_idle(timeout)

    def close_intake(self) -> None:
        """Whatever arrives from now on is counted as abandoned."""
        self.buffer.close()

    def drain(self, timeout: float) -> bool:
        """Let the workers finish what is buffered; True if they did within ``timeout``."""
        return self.buffer.wait_idle(timeout)

    def abandon_queued(self) -> None:
        """Give up on what is still queued (counted as abandoned, never acked)."""
        self.buffer.abandon_queued()

    def finish_callbacks(self, deadline: float, timeout: float) -> bool:
        """Wait until ``deadline`` + STOP_GRACE for running callbacks; then cancel async ones
        (counted abandoned) and give them CANCEL_GRACE. True if every worker ended. ``timeout``
        is the stop's, for the report."""
        clock = time.monotonic

        def left(until: float) -> float:
            return max(0.0, until - clock())

        settle = max(deadline, clock()) + STOP_GRACE
        dispatcher, runner = self.dispatcher, self._runner
        joined = dispatcher.join(left(settle))
        if runner is not None and not runner.wait(left(settle)):
            cancelled = runner.cancel()
            logger.warning("mqtt_surge: cancelled %d async callback(s) at stop", cancelled)
            # a worker waiting for a slot goes on (and gives up its batch) once the
            # cancellations settle on the loop
            grace = clock() + CANCEL_GRACE
            runner.wait(left(grace))
            joined = dispatcher.join(left(grace))
        if not joined:
            logger.warning(
                "mqtt_surge: %d callback(s) still running %gs after stop(); their worker "
                "threads are left to finish on their own",
                self.buffer.counts().in_flight,
                timeout,
            )
        return joined

    def stop_loop(self, timeout: float) -> None:
        """Stop the own loop thread, if one was started (after the transport is closed)."""
        if self._own_loop is not None:
            # a loop that a callback blocks cannot stop: leave it rather than wait on
            self._own_loop.stop(max(CANCEL_GRACE, timeout))


async def _gather(awaitables: list[Awaitable[Any]]) -> None:
    # each in a task of its own: guard each, or one SystemExit would escape from its task
    for result in await asyncio.gather(*(guarded(a) for a in awaitables)):
        if isinstance(result, Escaped):
            raise result.error
