"""The subscriber: a network thread (paho's, or gmqtt's loop) -> one bounded buffer -> worker
threads -> callbacks; or, with ``processes=N``, N child processes that each run one.

This module holds the public face and the lifecycle (the states, a stop from anywhere, the
final counts). The options are checked in ``_options``; one process's engine room is
``_local.InProcess``; a group of processes is :mod:`mqtt_surge.scaleout`.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import uuid
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Literal

from ..runtime.lifecycle import StartStop, State
from ..runtime.url import BrokerURL
from ..runtime.warn import user_origin
from ..scaleout.group import ProcessGroup
from ._buffer import Overflow
from ._checks import is_async_callable, is_broker
from ._local import InProcess
from ._observed import reporting
from ._options import (
    DEFAULT_KEEPALIVE,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_QUEUE_SIZE,
    DEFAULT_QOS,
    DEFAULT_START_TIMEOUT,
    DEFAULT_STOP_TIMEOUT,
    DEFAULT_WARN_INTERVAL,
    DEFAULT_WORKER_THREADS,
    Ack,
    Callback,
    ErrorHook,
    Observer,
    SubscriberOptions,
    TopicSpec,
)
from ._stats import Stats
from .transports import Engine, TransportFactory

if TYPE_CHECKING:
    from ..brokers import Broker

__all__ = ["MQTTSubscriber", "Subscriber", "SubscriberOptions", "is_async_callable"]


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
        max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE,
        worker_threads: int = DEFAULT_WORKER_THREADS,
        overflow: Overflow | None = None,
        qos: int = DEFAULT_QOS,
        ack: Ack = "on_receive",
        client_id: str | None = None,
        clean_session: bool | None = None,
        session_expiry: int | None = None,
        keepalive: int = DEFAULT_KEEPALIVE,
        protocol: int | str = 4,
        tls: bool | ssl.SSLContext | None = None,
        username: str | None = None,
        password: str | None = None,
        ordered: Literal[False, "topic"] = False,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        loop: asyncio.AbstractEventLoop | None = None,
        on_error: ErrorHook | None = None,
        warn_interval: float = DEFAULT_WARN_INTERVAL,
        engine: Engine | TransportFactory | None = None,
        processes: int = 1,
        shared_group: str | None = None,
        observer: Observer | None = None,
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
                observer=observer,
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
        # what runs the messages: this process's engine room, or a group of processes
        self._part: InProcess | ProcessGroup | None = None

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
    def running(self) -> bool:
        """Started and not stopping (True from start() on, while it connects)."""
        return self._state.live

    @property
    def is_connected(self) -> bool:
        """Whether the connection to the broker is up now (with ``processes`` > 1: every
        child's). False before start and after stop."""
        return self._part is not None and self._state.live and self._part.is_connected()

    @property
    def pids(self) -> list[int]:
        """The process ids that run the callbacks: this one, or each child's with ``processes``
        > 1 (a child that died and was replaced shows its successor). Empty before start."""
        return list(self._part.pids) if self._part is not None else []

    @property
    def restarts(self) -> int:
        """Child processes restarted after they died (``processes`` > 1)."""
        return self._part.restarts if self._part is not None else 0

    def process_stats(self) -> list[Stats]:
        """Each child process's counters (``processes`` > 1; else this one's, alone)."""
        if self._part is None:
            return [self.stats()]
        return self._part.process_stats()

    def __repr__(self) -> str:
        url = self._url.redacted if self._url else repr(self.options.broker)
        topics = ", ".join(f for f, _ in self.options.topics)
        return f"<Subscriber {url} [{topics}] {self._state.value}>"

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, wait: bool = True, timeout: float = DEFAULT_START_TIMEOUT) -> Subscriber:
        """Connect and subscribe in the background; with ``wait`` return once SUBACK arrived.

        Raises :class:`ConnectError` (refused, bad credentials, unreachable, timeout) or
        :class:`SubscribeError` (a filter was rejected); nothing is left running then.
        """
        try:
            running_loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running_loop = None
        return self._start(wait, timeout, running_loop)

    async def astart(self, timeout: float = DEFAULT_START_TIMEOUT) -> Subscriber:
        """:meth:`start` from a coroutine: connecting is a round trip, so it happens off the
        event loop, while async callbacks run on this loop."""
        loop = asyncio.get_running_loop()
        return await asyncio.to_thread(self._start, True, timeout, loop)

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
            self._part = self._make_part()
            self._part.launch(wait, timeout, running_loop)
        except BaseException:
            self._shutdown(timeout=1.0, drain=False)
            raise
        with self._state_lock:
            if self._state is State.STARTING:  # a callback may have begun a stop meanwhile
                self._state = State.RUNNING
        return self

    def _make_part(self) -> InProcess | ProcessGroup:
        options = self.options
        if options.processes > 1:
            return ProcessGroup(options, self.url, self._client_id)
        if options.observer is not None:
            options = reporting(options, options.observer)
        return InProcess(options, self._client_id, self.url, self._origin, lambda: self._state.live)

    def stats(self) -> Stats:
        """A consistent snapshot of the counters (see :class:`Stats`)."""
        if self._final is not None:
            return self._final
        return self._part.stats() if self._part is not None else Stats()

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT, drain: bool = True) -> Stats:
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
        inside = self._part is not None and self._part.inside()
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

    async def astop(self, timeout: float = DEFAULT_STOP_TIMEOUT, drain: bool = True) -> Stats:
        """:meth:`stop` without blocking the event loop (which async callbacks may need)."""
        return await asyncio.to_thread(self.stop, timeout, drain)

    def wait_stopped(self, timeout: float | None = None) -> bool:
        """Wait until a stop that is under way has finished; True if it has."""
        return self._stopped.wait(timeout)

    def _shutdown(self, timeout: float, drain: bool) -> Stats:
        try:
            if self._part is not None:
                self._part.shutdown(timeout, drain)
        finally:
            final = self.stats()
            with self._state_lock:
                self._final = final
                self._state = State.STOPPED
            self._stopped.set()
        return final

    # -- context managers -----------------------------------------------------------------------

    async def __aenter__(self) -> Subscriber:
        return await self.astart()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.astop()


MQTTSubscriber = Subscriber
