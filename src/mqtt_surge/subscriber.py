"""The subscriber: a network thread (paho's, or gmqtt's loop) -> one bounded buffer -> worker
threads -> callbacks."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
import logging
import ssl
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Union

from ._buffer import Buffer, BufferClosed, Overflow
from ._dispatch import AsyncRunner, Dispatcher, Escaped, guarded
from ._errors import (
    AsyncioLoopWarning,
    ConfigError,
    ConnectError,
    QueueFullWarning,
    SubscribeError,
    WorkersOverloadedWarning,
)
from ._lifecycle import StartStop
from ._loop import LoopThread
from ._message import Message, build_message, filter_matches, validate_filter
from ._stats import Stats
from ._transport import Engine, Events, Settings, Transport, make_transport, resolve_engine
from ._url import BrokerURL, parse_broker
from ._warn import RateLimited, warn_caller
from ._watchdog import Watchdog

if TYPE_CHECKING:
    from .brokers import Broker

logger = logging.getLogger("mqtt_surge")

# a callback returns None, or an awaitable when it is ``async def``
Callback = Callable[[Message], Any]
ErrorHook = Callable[[BaseException, Message], Any]
TopicSpec = Union[str, tuple[str, int], Sequence[Union[str, tuple[str, int]]]]  # noqa: UP007 - runtime alias on 3.10
Ack = Literal["on_receive", "after_processing"]
# What the network thread enqueues: the message's fields, the connection generation it came on
# (stale acks are skipped) and when it came, then whatever the engine needs to ack it later. A
# flat tuple: cheap to build on the scarce network thread, and paho's message (with its lock
# objects) dies at once instead of waiting in the buffer for the garbage collector. A worker
# builds the Message from it.
_Item = tuple[Any, ...]

ACK_MODES: tuple[str, ...] = ("on_receive", "after_processing")
LOOP_WARNING = "Detected asyncio event loop. Consider using an async callback."
MAX_BATCH = 500
UNSUBSCRIBE_WAIT = 2.0  # seconds a graceful stop waits for the broker's UNSUBACK
# A stop's budget past its ``timeout``: callbacks still running at the deadline get STOP_GRACE
# seconds to end, async ones still running then are cancelled and get CANCEL_GRACE more. Both
# are short so that ``stop(timeout)`` returns within timeout + 2 s whatever a callback does.
STOP_GRACE = 1.0
CANCEL_GRACE = 0.5
MAX_STRING = 65535  # bytes in an MQTT UTF-8 string, and the largest keepalive
MAX_EXPIRY = 0xFFFFFFFF  # MQTT 5's Session Expiry Interval is a four-byte integer
PROTOCOLS: dict[object, int] = {4: 4, "3.1.1": 4, "4": 4, 5: 5, "5": 5, "5.0": 5}


def _parse_topics(topic: TopicSpec | None, qos: int) -> list[tuple[str, int]]:
    if topic is None:
        return []
    items: Iterable[object]
    if isinstance(topic, str) or (
        isinstance(topic, tuple) and len(topic) == 2 and isinstance(topic[1], int)
    ):
        items = [topic]
    elif isinstance(topic, (list, tuple)):
        items = topic
    else:
        raise ConfigError(
            f"topic must be a filter, a (filter, qos) pair or a list of them, got {topic!r}"
        )
    result = []
    for item in items:
        if isinstance(item, str):
            name, item_qos = item, qos
        elif isinstance(item, tuple) and len(item) == 2:
            name, item_qos = item
        else:
            raise ConfigError(f"topic entries must be filters or (filter, qos) pairs, got {item!r}")
        result.append((validate_filter(name), _check_qos(item_qos, f"QoS of {name!r}")))
    if not result:
        raise ConfigError("topic is an empty list: give at least one topic filter")
    return result


def _check_qos(qos: object, what: str = "qos") -> int:
    if isinstance(qos, bool) or not isinstance(qos, int) or qos not in (0, 1, 2):
        raise ConfigError(f"{what} must be 0, 1 or 2, got {qos!r}")
    return qos


def _check_text(name: str, value: object, *, secret: bool = False) -> str | None:
    """An MQTT UTF-8 string option: str or None, no NUL [MQTT-1.5.3-2], at most 65,535 bytes.
    A ``secret`` one is never echoed in the error."""
    if value is None:
        return None
    shown = "it" if secret else repr(value)
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a str, got {type(value).__name__ if secret else shown}")
    if "\x00" in value:
        raise ConfigError(f"{name} contains a NUL character: {shown}")
    try:
        size = len(value.encode())
    except UnicodeEncodeError as exc:
        raise ConfigError(f"{name} is not valid UTF-8 text ({exc.reason}): {shown}") from None
    if size > MAX_STRING:
        raise ConfigError(f"{name} is longer than 65,535 bytes in UTF-8 ({size:,})")
    return value


def _check_positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be an int >= 1, got {value!r}")
    return value


def is_async_callable(fn: object) -> bool:
    """Whether calling ``fn`` gives a coroutine (``async def``, a partial of one, an object with
    an ``async def __call__``)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - async __call__ on an object
    )


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
    """

    def __init__(  # noqa: PLR0912, PLR0915 - one check per option of the design's keyword API
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
        engine: Engine | None = None,
    ) -> None:
        username = _check_text("username", username)
        password = _check_text("password", password, secret=True)
        if not isinstance(broker, (str, BrokerURL)) and not _is_broker(broker):
            raise ConfigError(
                "broker must be a host, host:port, an mqtt:// URL or a broker object, "
                f"got {broker!r}"
            )
        self._broker_source = broker
        self._url = (
            self._resolve_url(broker, username, password) if not _is_broker(broker) else None
        )
        self._username, self._password = username, password

        qos = _check_qos(qos)
        self._routes: list[tuple[str, Callback]] = []
        if callbacks is not None and not isinstance(callbacks, Mapping):
            raise TypeError(f"callbacks must be a mapping of filter to callable, got {callbacks!r}")
        for name, fn in (callbacks or {}).items():
            if not callable(fn):
                raise TypeError(f"callbacks[{name!r}] is not callable: {fn!r}")
            self._routes.append((validate_filter(name), fn))
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        if callback is None and not self._routes:
            raise TypeError("give callback= (called for every message) or callbacks={filter: fn}")
        self._callback = callback
        self._topics = _parse_topics(topic, qos) or [(f, qos) for f, _ in self._routes]
        if not self._topics:
            raise ConfigError("give topic= (a filter or a list of filters)")

        self.max_queue_size = _check_positive("max_queue_size", max_queue_size)
        self.worker_threads = _check_positive("worker_threads", worker_threads)
        self.max_concurrency = _check_positive("max_concurrency", max_concurrency)
        if ack not in ACK_MODES:
            raise ConfigError(f"ack must be one of {', '.join(ACK_MODES)}; got {ack!r}")
        # ack after processing promises that nothing is lost: dropping a message would ack one
        # that nobody processed, so that mode waits for room unless told to drop
        if overflow is None:
            overflow = "block" if ack == "after_processing" else "drop_oldest"
        self._overflow = overflow  # checked by the Buffer that _reset() builds below
        if ack == "after_processing" and max(q for _, q in self._topics) == 0:
            raise ConfigError(
                "ack='after_processing' needs qos >= 1 (QoS 0 messages are never acknowledged)"
            )
        self._ack = ack
        if ordered is not False and not (isinstance(ordered, str) and ordered == "topic"):
            raise ConfigError(f"ordered must be False or 'topic', got {ordered!r}")
        self._ordered = ordered == "topic"
        self._protocol = (
            PROTOCOLS.get(protocol, 0)
            if isinstance(protocol, (int, str)) and not isinstance(protocol, bool)
            else 0
        )
        if not self._protocol:
            raise ConfigError(f"protocol must be 4 ('3.1.1') or 5, got {protocol!r}")
        if clean_session is not None and self._protocol == 5:
            raise ConfigError("clean_session is for MQTT 3.1.1; with protocol=5 use session_expiry")
        if session_expiry is not None and self._protocol != 5:
            raise ConfigError("session_expiry needs protocol=5; with 3.1.1 use clean_session")
        if clean_session is not None and not isinstance(clean_session, bool):
            raise ConfigError(f"clean_session must be True, False or None, got {clean_session!r}")
        if session_expiry is not None and (
            isinstance(session_expiry, bool)
            or not isinstance(session_expiry, int)
            or not 0 <= session_expiry <= MAX_EXPIRY
        ):
            raise ConfigError(
                f"session_expiry must be an int of seconds, 0 to {MAX_EXPIRY:,}, "
                f"got {session_expiry!r}"
            )
        client_id = _check_text("client_id", client_id)
        self._persistent = clean_session is False or bool(session_expiry)
        if self._persistent and not client_id:
            raise ConfigError("a persistent session needs a fixed client_id to resume it")
        self._clean_session = clean_session
        self._session_expiry = session_expiry
        self._client_id = client_id or f"mqtt-surge-{uuid.uuid4().hex[:12]}"
        if (
            isinstance(keepalive, bool)
            or not isinstance(keepalive, int)
            or not 0 <= keepalive <= MAX_STRING
        ):
            raise ConfigError(
                f"keepalive must be an int of seconds, 0 to 65,535, got {keepalive!r}"
            )
        self._keepalive = keepalive
        if tls is not None and not isinstance(tls, (bool, ssl.SSLContext)):
            raise ConfigError(f"tls must be True, False or an ssl.SSLContext, got {tls!r}")
        self._tls = tls
        if loop is not None and not isinstance(loop, asyncio.AbstractEventLoop):
            raise TypeError(f"loop must be an asyncio event loop, got {loop!r}")
        self._loop = loop
        if on_error is not None and not callable(on_error):
            raise TypeError(f"on_error must be callable, got {on_error!r}")
        self._on_error = on_error
        if (
            isinstance(warn_interval, bool)
            or not isinstance(warn_interval, (int, float))
            or not 0 <= warn_interval < float("inf")
        ):
            raise ConfigError(
                f"warn_interval must be a number of seconds >= 0, got {warn_interval!r}"
            )
        self.engine = resolve_engine(engine)
        self._warn_full = RateLimited(QueueFullWarning, warn_interval)
        self._warn_overloaded = RateLimited(WorkersOverloadedWarning, warn_interval)
        self._log_failure = RateLimited(None, warn_interval, logging.ERROR)

        self._state_lock = threading.Lock()
        self._state: Literal["new", "running", "stopping", "stopped"] = "new"
        self._stopped = threading.Event()
        self._final: Stats | None = None
        self._reset()

    # -- set-up -------------------------------------------------------------------------------

    @staticmethod
    def _resolve_url(
        broker: str | BrokerURL | Broker, username: str | None, password: str | None
    ) -> BrokerURL:
        if isinstance(broker, BrokerURL):
            url = broker
        elif isinstance(broker, str):
            url = parse_broker(broker)
        else:
            url = broker.url
        if username is not None:
            url = BrokerURL(url.host, url.port, url.scheme, username, password)
        elif password is not None:
            raise ConfigError("password given without username")
        return url

    def _reset(self) -> None:
        lanes = self.worker_threads if self._ordered else 1
        self._buffer: Buffer[_Item] = Buffer(
            self.max_queue_size,
            self._overflow,
            lanes,
            # in-flight batches sit outside the bound: keep them small next to it
            max_batch=max(1, min(MAX_BATCH, self.max_queue_size // (2 * self.worker_threads))),
        )
        self._lanes = lanes
        self._connects = 0
        self._subscribed = threading.Event()
        self._fatal: BaseException | None = None
        self._last_connect_problem: ConnectError | None = None
        self._transport: Transport | None = None
        self._watchdog: Watchdog | None = None
        self._dispatcher: Dispatcher[_Item] | None = None
        self._runner: AsyncRunner[_Item] | None = None
        self._own_loop: LoopThread | None = None
        self._callback_loop: asyncio.AbstractEventLoop | None = None
        self._runner_lock = threading.Lock()

    @property
    def url(self) -> BrokerURL:
        if self._url is None:
            self._url = self._resolve_url(self._broker_source, self._username, self._password)
        return self._url

    @property
    def topics(self) -> list[tuple[str, int]]:
        return list(self._topics)

    @property
    def client_id(self) -> str:
        return self._client_id

    @property
    def running(self) -> bool:
        return self._state == "running"

    def __repr__(self) -> str:
        url = self._url.redacted if self._url else repr(self._broker_source)
        topics = ", ".join(f for f, _ in self._topics)
        return f"<Subscriber {url} [{topics}] {self._state}>"

    # -- the network thread ---------------------------------------------------------------------

    def _connected(self) -> None:
        self._connects += 1
        if self._connects > 1:
            logger.info("reconnected to %s; subscribing again", self.url)

    def _refused(self, error: ConnectError) -> None:
        self._last_connect_problem = error
        logger.warning("mqtt_surge: %s", error)
        self._fail_start(error)

    def _fail_start(self, error: ConnectError) -> None:
        # the broker answered no: a start() still waiting fails now, with the reason, rather
        # than after its timeout (later, once running, the transport keeps reconnecting)
        if not self._subscribed.is_set():
            self._fatal = error
            self._subscribed.set()  # wakes start(), which raises

    def _on_subscribed(self, rejected: list[str]) -> None:
        if rejected:
            error = SubscribeError(f"{self.url.redacted} rejected: {', '.join(rejected)}")
            logger.error("mqtt_surge: %s", error)
            if not self._subscribed.is_set():
                self._fatal = error
        self._subscribed.set()

    def _unreachable(self, reason: BaseException | None) -> None:
        refused = isinstance(reason, ConnectionRefusedError)
        why = f": connection refused ({reason})" if refused else f": {reason}" if reason else ""
        error = ConnectError(f"could not connect to {self.url.redacted}{why}", reason="unreachable")
        self._last_connect_problem = error
        logger.info("mqtt_surge: %s; retrying", error)
        if refused:
            self._fail_start(error)  # nothing listens there: waiting will not change that

    def _disconnected(self, reason: object) -> None:
        if self._state == "running":
            logger.warning("mqtt_surge: disconnected from %s (%s); reconnecting", self.url, reason)

    def _enqueue(self, item: _Item) -> None:
        # the transport's network thread: only enqueue here, it is the bottleneck (and a slow
        # one misses keepalives)
        lane = hash(item[0]) % self._lanes if self._lanes > 1 else 0
        buffer = self._buffer
        try:
            dropped = buffer.put(item, lane)
        except BufferClosed:
            return  # counted as abandoned; not acked, so a persistent session gets it again
        if dropped is not None:
            self._dropped(dropped)
        if buffer.size >= buffer.high_water and buffer.high_for() > 1.0:
            self._warn_overloaded(self._overloaded_text)

    def _dropped(self, item: _Item) -> None:
        if item[2] and self._ack == "after_processing" and self._transport is not None:
            # dropped on purpose: acknowledge it, or the broker would send it again
            self._transport.ack(item)
        self._warn_full(self._queue_full_text)

    def _queue_full_text(self, count: int) -> str:
        policy = {"drop_oldest": "the oldest", "drop_newest": "the newest"}.get(self._overflow, "a")
        return (
            f"Message queue full, dropping message. {count} dropped since the last warning "
            f"({policy} each time; max_queue_size={self.max_queue_size}). Raise max_queue_size, "
            f"add worker_threads (now {self.worker_threads}) or make the callback faster."
        )

    def _overloaded_text(self, count: int) -> str:
        return (
            f"Workers overloaded: the buffer has stayed above 80% of max_queue_size "
            f"({self.max_queue_size}) for {self._buffer.high_for():.1f}s, so messages arrive "
            f"faster than {self.worker_threads} worker_threads process them. Raise worker_threads "
            f"or make the callback faster ({count} checks since the last warning)."
        )

    # -- the workers ----------------------------------------------------------------------------

    @staticmethod
    def _message(item: _Item) -> Message:
        return build_message(item)

    def _process(self, item: _Item) -> Any:
        message = self._message(item)
        if not self._routes:
            assert self._callback is not None
            return self._callback(message)
        matched = [fn for f, fn in self._routes if filter_matches(f, message.topic)]
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

    def _after(self, item: _Item, error: BaseException | None) -> None:
        if item[2] and self._ack == "after_processing" and self._transport is not None:
            self._transport.ack(item)
        if error is None:
            return
        message = self._message(item)
        self._log_failure(
            lambda n: (
                f"callback failed on topic {message.topic!r} ({n} failure(s) since the "
                f"last report): {error!r}"
            ),
            exc_info=error,
        )
        if self._on_error is not None:
            try:
                self._on_error(error, message)
            except Exception:
                logger.exception("on_error hook raised")

    def _get_runner(self) -> AsyncRunner[_Item]:
        if self._runner is None:
            with self._runner_lock:
                if self._runner is None:
                    loop = self._callback_loop
                    if loop is None:
                        self._own_loop = LoopThread(f"mqtt-surge-loop-{self._client_id}")
                        loop = self._own_loop.start()
                    self._runner = AsyncRunner(
                        loop, self.max_concurrency, self._buffer, self._after
                    )
        return self._runner

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
            if self._state in ("running", "stopping"):
                return self
            if self._state == "stopped":
                self._reset()
            self._state = "running"
            self._stopped.clear()
            self._final = None
        try:
            self._launch(running_loop)
            if wait:
                self._wait_subscribed(timeout)
        except BaseException:
            self._shutdown(timeout=1.0, drain=False)
            raise
        return self

    def _launch(self, running_loop: asyncio.AbstractEventLoop | None) -> None:
        callbacks = [fn for _, fn in self._routes] + ([self._callback] if self._callback else [])
        any_async = any(is_async_callable(fn) for fn in callbacks)
        self._callback_loop = self._loop or running_loop
        if running_loop is not None and self._loop is None and not any_async:
            warn_caller(LOOP_WARNING, AsyncioLoopWarning)
        if any_async:
            self._get_runner()  # start the own loop now rather than on the first message
        self._dispatcher = Dispatcher(
            self._buffer,
            self._process,
            self._after,
            workers=self.worker_threads,
            ordered=self._ordered,
            runner=self._get_runner,
            name=f"mqtt-surge-worker-{self._client_id}",
        )
        self._dispatcher.start()
        self._transport = make_transport(
            self.engine,
            Settings(
                url=self.url,
                client_id=self._client_id,
                topics=self._topics,
                protocol=self._protocol,
                clean_session=self._clean_session,
                session_expiry=self._session_expiry,
                keepalive=self._keepalive,
                manual_ack=self._ack == "after_processing",
                tls=self._tls,
            ),
            Events(
                enqueue=self._enqueue,
                connected=self._connected,
                refused=self._refused,
                unreachable=self._unreachable,
                subscribed=self._on_subscribed,
                disconnected=self._disconnected,
            ),
        )
        self._transport.start()
        if self._keepalive:
            self._watchdog = Watchdog(
                self._transport, self._keepalive, f"mqtt-surge-watchdog-{self._client_id}"
            )
            self._watchdog.start()

    def _wait_subscribed(self, timeout: float) -> None:
        if not self._subscribed.wait(timeout):
            problem = self._last_connect_problem
            if self._connects:
                raise ConnectError(
                    f"connected to {self.url.redacted} but no SUBACK within {timeout:g}s",
                    reason="timeout",
                )
            raise ConnectError(
                f"no connection to {self.url.redacted} within {timeout:g}s"
                + (f": {problem}" if problem else ""),
                reason=problem.reason if problem else "timeout",
                return_code=problem.return_code if problem else None,
            )
        if self._fatal is not None:
            raise self._fatal

    def stats(self) -> Stats:
        """A consistent snapshot of the counters (see :class:`Stats`)."""
        if self._final is not None:
            return self._final
        return dataclasses.replace(self._buffer.counts(), reconnects=max(0, self._connects - 1))

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
            if state == "running":
                self._state = "stopping"
        if state in ("new", "stopped"):
            return self.stats()
        inside = self._inside()
        if state == "stopping":
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
        if transport is None or self._persistent or not transport.is_connected():
            return False
        if not transport.unsubscribe(timeout):
            logger.info("mqtt_surge: no UNSUBACK from %s before stopping", self.url)
            return False
        return True

    def _inside(self) -> bool:
        current = threading.current_thread()
        ours = list(self._dispatcher.threads) if self._dispatcher else []
        if self._own_loop is not None and self._own_loop.thread is not None:
            ours.append(self._own_loop.thread)
        if current in ours or (self._transport is not None and self._transport.on_network_thread()):
            return True
        runner = self._runner
        if runner is not None:
            try:
                return asyncio.get_running_loop() is runner.loop
            except RuntimeError:
                return False
        return False

    def _shutdown(self, timeout: float, drain: bool) -> Stats:
        buffer = self._buffer
        clock = time.monotonic
        try:
            deadline = clock() + timeout

            def left(until: float) -> float:
                return max(0.0, until - clock())

            if drain and self._unsubscribe(min(timeout, UNSUBSCRIBE_WAIT)):
                # the broker may still deliver what it had under way when it answered: keep
                # taking it while the buffer drains, and close only once everything settled
                buffer.wait_idle(left(deadline))
            buffer.close()  # intake stops; later arrivals count as abandoned
            finished = drain and buffer.wait_idle(left(deadline))
            if not finished:
                buffer.abandon_queued()
            # what is still running gets the rest of the timeout (all of it without a drain)
            # and a short grace: one budget, however the time was spent so far
            settle = max(deadline, clock()) + STOP_GRACE
            dispatcher, runner = self._dispatcher, self._runner
            joined = dispatcher is None or dispatcher.join(left(settle))
            if runner is not None and not runner.wait(left(settle)):
                cancelled = runner.cancel()
                logger.warning("mqtt_surge: cancelled %d async callback(s) at stop", cancelled)
                # a worker waiting for a slot goes on (and gives up its batch) once the
                # cancellations settle on the loop
                grace = clock() + CANCEL_GRACE
                runner.wait(left(grace))
                joined = dispatcher is None or dispatcher.join(left(grace))
            if not joined:
                logger.warning(
                    "mqtt_surge: %d callback(s) still running %gs after stop(); their worker "
                    "threads are left to finish on their own",
                    buffer.counts().in_flight,
                    timeout,
                )
            if self._watchdog is not None:
                self._watchdog.stop()
            if self._transport is not None:
                self._transport.close()
            if self._own_loop is not None:
                # a loop that a callback blocks cannot stop: leave it rather than wait on
                self._own_loop.stop(max(CANCEL_GRACE, left(deadline)))
        finally:
            final = self.stats()
            with self._state_lock:
                self._final = final
                self._state = "stopped"
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


async def _gather(awaitables: list[Awaitable[Any]]) -> None:
    # each in a task of its own: guard each, or one SystemExit would escape from its task
    for result in await asyncio.gather(*(guarded(a) for a in awaitables)):
        if isinstance(result, Escaped):
            raise result.error


def _is_broker(obj: object) -> bool:
    # look on the type: reading ``url`` of a broker that has not started raises
    return not isinstance(obj, (str, BrokerURL)) and all(
        hasattr(type(obj), name) for name in ("url", "start", "stop")
    )


MQTTSubscriber = Subscriber
