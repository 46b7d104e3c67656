"""The subscriber: a network thread (paho's, or gmqtt's loop) -> one bounded buffer -> worker
threads -> callbacks.

This module holds the lifecycle. The options are checked in ``_options``, what the network
thread reports is kept by ``_connection``, the buffer-workers-callbacks side is ``_pipeline``,
and the network side is ``transports``.

Over 300 lines: the public keyword signature names every option and passes it on (about 70
lines), and the lifecycle's docstrings are the reference users read.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
import time
import uuid
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Literal

from ._buffer import Overflow
from ._connection import Connection
from ._errors import AsyncioLoopWarning
from ._lifecycle import StartStop, State
from ._options import (
    Ack,
    Callback,
    ErrorHook,
    SubscriberOptions,
    TopicSpec,
    is_async_callable,
    is_broker,
)
from ._pipeline import Pipeline
from ._processes import ProcessGroup
from ._relay import Observer
from ._stats import Stats
from ._url import BrokerURL
from ._warn import user_origin, warn_caller
from ._watchdog import Watchdog
from .transports import Engine, Settings, Transport, TransportFactory

if TYPE_CHECKING:
    from .brokers import Broker

__all__ = ["MQTTSubscriber", "Subscriber", "SubscriberOptions", "is_async_callable"]

logger = logging.getLogger("mqtt_surge")

LOOP_WARNING = "Detected asyncio event loop. Consider using an async callback."
UNSUBSCRIBE_WAIT = 2.0  # seconds a graceful stop waits for the broker's UNSUBACK


class Subscriber(StartStop):
    """A background MQTT subscriber that survives bursts.

    ``Subscriber(broker="localhost", topic="sensors/#", callback=handle).start()`` connects, waits
    for the SUBACK and returns; the network thread (paho's, or with ``engine="gmqtt"`` an asyncio
    loop running gmqtt) only converts messages and puts them in a bounded buffer
    (``max_queue_size``; when full, ``overflow`` decides: drop the oldest by default), and
    ``worker_threads`` workers call ``callback(message)`` on batches taken from it. ``async def``
    callbacks run on the event loop that was running when ``start()`` was called
    (or ``loop=``), else on a loop thread of the subscriber's own, at most ``max_concurrency``
    at a time. ``stop()`` drains, accounts for every message and joins every thread.

    Every option is checked at construction (:class:`SubscriberOptions`);
    :meth:`from_options` builds a subscriber from options made beforehand.
    """

    def __init__(
        self,
        broker: str | BrokerURL | Broker = "localhost",
        topic: TopicSpec | None = None,
        callback: Callback | None = None,
        *,
        callbacks: Mapping[str, Callback] | None = None,
        max_queue_size: int = 1000,
        worker_threads: int = 4,
        overflow: Overflow | None = None,
        qos: int = 0,
        ack: Ack = "on_receive",
        client_id: str | None = None,
        clean_session: bool | None = None,
        session_expiry: int | None = None,
        keepalive: int = 60,
        protocol: int | str = 4,
        tls: bool | ssl.SSLContext | None = None,
        username: str | None = None,
        password: str | None = None,
        ordered: Literal[False, "topic"] = False,
        max_concurrency: int = 100,
        loop: asyncio.AbstractEventLoop | None = None,
        on_error: ErrorHook | None = None,
        warn_interval: float = 5.0,
        engine: Engine | TransportFactory | None = None,
        processes: int = 1,
        shared_group: str | None = None,
    ) -> None:
        self._init(
            SubscriberOptions(
                broker=broker,
                topic=topic,
                callback=callback,
                callbacks=callbacks,
                max_queue_size=max_queue_size,
                worker_threads=worker_threads,
                overflow=overflow,
                qos=qos,
                ack=ack,
                client_id=client_id,
                clean_session=clean_session,
                session_expiry=session_expiry,
                keepalive=keepalive,
                protocol=protocol,
                tls=tls,
                username=username,
                password=password,
                ordered=ordered,
                max_concurrency=max_concurrency,
                loop=loop,
                on_error=on_error,
                warn_interval=warn_interval,
                engine=engine,
                processes=processes,
                shared_group=shared_group,
            )
        )

    @classmethod
    def from_options(cls, options: SubscriberOptions) -> Subscriber:
        """A subscriber with ``options`` (checked already, when they were made)."""
        subscriber = cls.__new__(cls)
        subscriber._init(options)  # noqa: SLF001 - our own class, built without __init__
        return subscriber

    def _init(self, options: SubscriberOptions) -> None:
        self.options = options
        self._origin = user_origin()  # where background warnings point: the line that made us
        self.max_queue_size = options.max_queue_size
        self.worker_threads = options.worker_threads
        self.max_concurrency = options.max_concurrency
        self.engine = options.engine_name
        # one id for this subscriber's whole life, restarts included: a broker tells sessions
        # apart by it
        self._client_id = options.client_id or f"mqtt-surge-{uuid.uuid4().hex[:12]}"
        # a broker object has a URL only once started: read it at start
        self._url = None if is_broker(options.broker) else options.url()
        self._state_lock = threading.Lock()
        self._state = State.NEW
        self._stopped = threading.Event()
        self._final: Stats | None = None
        self._pipeline: Pipeline | None = None
        self._transport: Transport | None = None
        self._watchdog: Watchdog | None = None
        self._connection: Connection | None = None
        self._group: ProcessGroup | None = None  # processes > 1
        # processes > 1: told in this process of each message a child processed (a test's
        # recorder, the load suite's probe)
        self._observer: Observer | None = None

    @property
    def url(self) -> BrokerURL:
        if self._url is None:
            self._url = self.options.url()
        return self._url

    @property
    def topics(self) -> list[tuple[str, int]]:
        return list(self.options.topics)

    @property
    def client_id(self) -> str:
        return self._client_id

    @property
    def state(self) -> State:
        return self._state

    @property
    def restarts(self) -> int:
        """Child processes restarted after they died (``processes`` > 1)."""
        return self._group.restarts if self._group is not None else 0

    def process_stats(self) -> list[Stats]:
        """Each child process's counters (``processes`` > 1; else this one's, alone)."""
        if self._group is not None:
            return self._group.per_process()
        return [self.stats()]

    @property
    def running(self) -> bool:
        """Started and not stopping (True from start() on, while it connects)."""
        return self._state.live

    def __repr__(self) -> str:
        url = self._url.redacted if self._url else repr(self.options.broker)
        topics = ", ".join(f for f, _ in self.options.topics)
        return f"<Subscriber {url} [{topics}] {self._state.value}>"

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, wait: bool = True, timeout: float = 10.0) -> Subscriber:
        """Connect and subscribe in the background; with ``wait`` return once SUBACK arrived.

        Raises :class:`ConnectError` (refused, bad credentials, unreachable, timeout) or
        :class:`SubscribeError` (a filter was rejected); nothing is left running then.
        """
        try:
            running_loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running_loop = None
        return self._start(wait, timeout, running_loop)

    def _start(
        self, wait: bool, timeout: float, running_loop: asyncio.AbstractEventLoop | None
    ) -> Subscriber:
        with self._state_lock:
            if self._state in (State.STARTING, State.RUNNING, State.STOPPING):
                return self
            self._state = State.STARTING
            self._stopped.clear()
            self._final = None
        try:
            if self.options.processes > 1:
                self._launch_processes(timeout)
            else:
                connection = self._launch(running_loop)
                if wait:
                    connection.wait_subscribed(timeout)
        except BaseException:
            self._shutdown(timeout=1.0, drain=False)
            raise
        with self._state_lock:
            if self._state is State.STARTING:  # a callback may have begun a stop meanwhile
                self._state = State.RUNNING
        return self

    def _launch_processes(self, timeout: float) -> None:
        """``processes`` children on the shared subscription; back once each has its SUBACK."""
        options = self.options
        group = options.shared_group or f"mqtt-surge-{self._client_id}"
        self._group = ProcessGroup(
            options.processes,
            Subscriber,
            options.child_options(self.url, group),
            self._client_id,
            self._observer,
        )
        self._group.start(timeout)

    def _launch(self, running_loop: asyncio.AbstractEventLoop | None) -> Connection:
        options = self.options
        if running_loop is not None and options.loop is None and not options.any_async:
            warn_caller(LOOP_WARNING, AsyncioLoopWarning)
        make_transport = options.make_transport_factory()
        connection = self._connection = Connection(self.url, lambda: self._state.live)
        pipeline = self._pipeline = Pipeline(
            options, self._client_id, options.loop or running_loop, self._origin
        )
        transport = self._transport = make_transport(
            Settings(
                url=self.url,
                client_id=self._client_id,
                topics=list(options.topics),
                protocol=int(options.protocol),
                clean_session=options.clean_session,
                session_expiry=options.session_expiry,
                keepalive=options.keepalive,
                manual_ack=options.manual_ack,
                tls=options.tls,
            ),
            connection.events(pipeline.enqueue),
        )
        pipeline.start(ack=transport.ack)
        transport.start()
        if options.keepalive:
            self._watchdog = Watchdog(
                transport, options.keepalive, f"mqtt-surge-watchdog-{self._client_id}"
            )
            self._watchdog.start()
        return connection

    def stats(self) -> Stats:
        """A consistent snapshot of the counters (see :class:`Stats`)."""
        if self._final is not None:
            return self._final
        if self._group is not None:
            return self._group.stats()
        if self._pipeline is None or self._connection is None:
            return Stats()
        return self._pipeline.stats(reconnects=self._connection.reconnects)

    def stop(self, timeout: float = 5.0, drain: bool = True) -> Stats:
        """Stop gracefully and return the final :class:`Stats`.

        Stops intake, processes what is buffered until ``timeout`` seconds have passed
        (``drain=False``: none), counts the rest as ``abandoned``, gives callbacks still running
        ``STOP_GRACE`` seconds more (then cancels async ones, counted as ``abandoned``, with up to
        ``CANCEL_GRACE`` seconds to end), disconnects and joins every thread. It returns within
        ``timeout`` + 2 s whatever a callback does; a sync callback that never returns keeps its
        worker thread and is counted ``in_flight``. Idempotent; ``stop()`` before
        ``start()`` does nothing. Called from inside a callback (or from the event loop that runs
        the async callbacks) it cannot wait for itself: it starts the stop in the background and
        returns the counters as they are; :meth:`wait_stopped` waits for the end.
        """
        with self._state_lock:
            state = self._state
            if state.live:
                self._state = State.STOPPING
        if state in (State.NEW, State.STOPPED):
            return self.stats()
        inside = self._inside()
        if state is State.STOPPING:
            if not inside:
                self._stopped.wait()
            return self.stats()
        if inside:
            threading.Thread(
                target=self._shutdown, args=(timeout, drain), name="mqtt-surge-stopper"
            ).start()
            return self.stats()
        return self._shutdown(timeout, drain)

    async def astop(self, timeout: float = 5.0, drain: bool = True) -> Stats:
        """:meth:`stop` without blocking the event loop (which async callbacks may need)."""
        return await asyncio.to_thread(self.stop, timeout, drain)

    def wait_stopped(self, timeout: float | None = None) -> bool:
        """Wait until a stop that is under way has finished; True if it has."""
        return self._stopped.wait(timeout)

    def _unsubscribe(self, timeout: float) -> bool:
        """Ask the broker to stop sending and wait for its UNSUBACK (True if it came): what it
        sent before is still buffered and drained, so a graceful stop abandons nothing.

        Not with a persistent session: there, unsubscribing would also stop the broker from
        keeping messages for the next session. The buffer closes at once instead, and what
        arrives later is abandoned (and, with ack='after_processing', redelivered later).
        """
        transport = self._transport
        if transport is None or self.options.persistent or not transport.is_connected():
            return False
        if not transport.unsubscribe(timeout):
            logger.info("mqtt_surge: no UNSUBACK from %s before stopping", self.url)
            return False
        return True

    def _inside(self) -> bool:
        """Whether the caller is one of our threads (or our callbacks' loop): it cannot wait
        for them to end."""
        pipeline, transport = self._pipeline, self._transport
        if pipeline is not None and (
            threading.current_thread() in pipeline.threads() or pipeline.on_callback_loop()
        ):
            return True
        return transport is not None and transport.on_network_thread()

    def _shutdown(self, timeout: float, drain: bool) -> Stats:
        """The stop, phase by phase, within one budget: ``timeout``, plus the grace that
        ``Pipeline.finish_callbacks`` gives callbacks still running at the deadline."""
        pipeline = self._pipeline
        clock = time.monotonic
        deadline = clock() + timeout

        def left() -> float:
            return max(0.0, deadline - clock())

        try:
            if self._group is not None:
                # every child stops as a subscriber does, in parallel
                self._group.stop(timeout, drain)
            if pipeline is not None:
                # 1. ask the broker to stop sending; what it had under way still comes, and
                #    is taken while the buffer drains, until everything settled
                if drain and self._unsubscribe(min(timeout, UNSUBSCRIBE_WAIT)):
                    pipeline.wait_idle(left())
                # 2. stop intake: later arrivals count as abandoned
                pipeline.close_intake()
                # 3. drain what is buffered, within the budget; give up on the rest
                if not (drain and pipeline.drain(left())):
                    pipeline.abandon_queued()
                # 4. callbacks still running get the grace, then async ones are cancelled
                pipeline.finish_callbacks(deadline, timeout)
            # 5. the network side: watchdog, then the connection and its thread
            if self._watchdog is not None:
                self._watchdog.stop()
                self._watchdog = None
            if self._transport is not None:
                self._transport.close()
            # 6. the loop thread of our own, if async callbacks had one
            if pipeline is not None:
                pipeline.stop_loop(left())
        finally:
            final = self.stats()
            with self._state_lock:
                self._final = final
                self._state = State.STOPPED
            self._stopped.set()
        return final

    # -- context managers -----------------------------------------------------------------------

    async def __aenter__(self) -> Subscriber:
        loop = asyncio.get_running_loop()
        # connecting blocks for a round trip: do it off the loop, but run callbacks on it
        await asyncio.to_thread(self._start, True, 10.0, loop)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.astop()


MQTTSubscriber = Subscriber
