"""Every option of a subscriber, checked once, in one frozen object (uvicorn's ``Config``).

``SubscriberOptions(**kwargs)`` takes the same keywords as :class:`~mqtt_surge.Subscriber` and
refuses a bad value at once, naming it; what it holds is normalised (topics as ``(filter, qos)``
pairs, the protocol as 4 or 5, the overflow policy resolved) and the values derived from several
options (``persistent``, ``lanes``, ``max_batch``) are computed here, not where they are used.

The checks of single values are in ``_checks``; the defaults every layer reads (the keyword
signature, the CLI, the probe) are the ``DEFAULT_*`` names here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import ssl
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Union

from ..runtime.errors import ConfigError
from ..runtime.url import BrokerURL, parse_broker
from ._buffer import OVERFLOW_POLICIES, Overflow
from ._checks import (
    check_choice,
    check_picklable,
    check_positive,
    check_qos,
    check_text,
    is_async_callable,
    is_broker,
    parse_topics,
)
from ._message import Message, validate_filter
from .transports import Engine, TransportFactory, factory, resolve_engine

if TYPE_CHECKING:
    from ..brokers import Broker

# a callback returns None, or an awaitable when it is ``async def``
Callback = Callable[[Message], Any]
ErrorHook = Callable[[BaseException, Message], Any]
# told of every message a callback finished, in this process, whichever process ran it:
# (message, when its callback began (time.time()), what it raised or None)
Observer = Callable[[Message, float, "BaseException | None"], None]
TopicSpec = Union[str, tuple[str, int], Sequence[Union[str, tuple[str, int]]]]  # noqa: UP007 - runtime alias on 3.10
Ack = Literal["on_receive", "after_processing"]
BrokerSpec = Union[str, BrokerURL, "Broker"]

ACK_MODES: tuple[str, ...] = ("on_receive", "after_processing")
MAX_BATCH = 500
MAX_STRING = 65535  # the largest keepalive (and the bytes of an MQTT UTF-8 string)
MAX_EXPIRY = 0xFFFFFFFF  # MQTT 5's Session Expiry Interval is a four-byte integer
PROTOCOLS: dict[object, int] = {4: 4, "3.1.1": 4, "4": 4, 5: 5, "5": 5, "5.0": 5}

# the defaults, named once: Subscriber's signature, the CLI and the load suite's probe read these
DEFAULT_MAX_QUEUE_SIZE = 1000
DEFAULT_WORKER_THREADS = 4
DEFAULT_QOS = 0
DEFAULT_KEEPALIVE = 60
DEFAULT_MAX_CONCURRENCY = 100
DEFAULT_WARN_INTERVAL = 5.0
DEFAULT_START_TIMEOUT = 10.0
DEFAULT_STOP_TIMEOUT = 5.0


@dataclasses.dataclass(frozen=True, eq=False)
class SubscriberOptions:
    """A subscriber's options, checked and normalised; the derived values beside them.

    Built from the same keywords as :class:`~mqtt_surge.Subscriber` (see there for what each
    does). ``Subscriber.from_options(options)`` starts from one; two subscribers can share one.
    """

    broker: BrokerSpec = "localhost"
    topic: TopicSpec | None = None
    callback: Callback | None = None
    callbacks: Mapping[str, Callback] | None = None
    max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE
    worker_threads: int = DEFAULT_WORKER_THREADS
    overflow: Overflow | None = None
    qos: int = DEFAULT_QOS
    ack: Ack = "on_receive"
    client_id: str | None = None
    clean_session: bool | None = None
    session_expiry: int | None = None
    keepalive: int = DEFAULT_KEEPALIVE
    protocol: int | str = 4
    tls: bool | ssl.SSLContext | None = None
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    ordered: Literal[False, "topic"] = False
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    loop: asyncio.AbstractEventLoop | None = None
    on_error: ErrorHook | None = None
    warn_interval: float = DEFAULT_WARN_INTERVAL
    # "paho", "gmqtt", None ($MQTT_SURGE_ENGINE, else paho), or a transport factory (such as
    # mqtt_surge.transports.fake.FakeBroker) for tests without a broker
    engine: Engine | TransportFactory | None = None
    # processes > 1: that many child processes, each a subscriber on $share/<shared_group>/...
    processes: int = 1
    shared_group: str | None = None
    observer: Observer | None = None

    # derived, set by __post_init__
    topics: tuple[tuple[str, int], ...] = dataclasses.field(init=False)
    routes: tuple[tuple[str, Callback], ...] = dataclasses.field(init=False)
    engine_name: str = dataclasses.field(init=False)
    transport_factory: TransportFactory | None = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:  # noqa: PLR0912, PLR0915 - one check per option
        put = functools.partial(object.__setattr__, self)  # frozen: normalise in place once
        put("username", check_text("username", self.username))
        put("password", check_text("password", self.password, secret=True))
        broker = self.broker
        if not isinstance(broker, (str, BrokerURL)) and not is_broker(broker):
            raise ConfigError(
                "broker must be a host, host:port, an mqtt:// URL or a broker object, "
                f"got {broker!r}"
            )
        if not is_broker(broker):
            self.url()  # a bad URL, or a password without a username, fails now

        qos = check_qos(self.qos)
        routes: list[tuple[str, Callback]] = []
        callbacks = self.callbacks
        if callbacks is not None and not isinstance(callbacks, Mapping):
            raise TypeError(f"callbacks must be a mapping of filter to callable, got {callbacks!r}")
        for name, fn in (callbacks or {}).items():
            if not callable(fn):
                raise TypeError(f"callbacks[{name!r}] is not callable: {fn!r}")
            routes.append((validate_filter(name), fn))
        put("routes", tuple(routes))
        if self.callback is not None and not callable(self.callback):
            raise TypeError(f"callback must be callable, got {self.callback!r}")
        if self.callback is None and not routes:
            raise TypeError("give callback= (called for every message) or callbacks={filter: fn}")
        topics = parse_topics(self.topic, qos) or [(f, qos) for f, _ in routes]
        if not topics:
            raise ConfigError("give topic= (a filter or a list of filters)")
        put("topics", tuple(topics))

        check_positive("max_queue_size", self.max_queue_size)
        check_positive("worker_threads", self.worker_threads)
        check_positive("max_concurrency", self.max_concurrency)
        check_choice("ack", self.ack, ACK_MODES)
        # ack after processing promises that nothing is lost: dropping a message would ack one
        # that nobody processed, so that mode waits for room unless told to drop
        if self.overflow is None:
            put("overflow", "block" if self.ack == "after_processing" else "drop_oldest")
        else:
            check_choice("overflow", self.overflow, OVERFLOW_POLICIES)
        if self.ack == "after_processing" and max(q for _, q in topics) == 0:
            raise ConfigError(
                "ack='after_processing' needs qos >= 1 (QoS 0 messages are never acknowledged)"
            )
        ordered = self.ordered
        if ordered is not False and not (isinstance(ordered, str) and ordered == "topic"):
            raise ConfigError(f"ordered must be False or 'topic', got {ordered!r}")
        protocol = (
            PROTOCOLS.get(self.protocol, 0)
            if isinstance(self.protocol, (int, str)) and not isinstance(self.protocol, bool)
            else 0
        )
        if not protocol:
            raise ConfigError(f"protocol must be 4 ('3.1.1') or 5, got {self.protocol!r}")
        put("protocol", protocol)
        self._check_session()
        keepalive = self.keepalive
        if (
            isinstance(keepalive, bool)
            or not isinstance(keepalive, int)
            or not 0 <= keepalive <= MAX_STRING
        ):
            raise ConfigError(
                f"keepalive must be an int of seconds, 0 to 65,535, got {keepalive!r}"
            )
        if self.tls is not None and not isinstance(self.tls, (bool, ssl.SSLContext)):
            raise ConfigError(f"tls must be True, False or an ssl.SSLContext, got {self.tls!r}")
        if self.loop is not None and not isinstance(self.loop, asyncio.AbstractEventLoop):
            raise TypeError(f"loop must be an asyncio event loop, got {self.loop!r}")
        for name, hook in (("on_error", self.on_error), ("observer", self.observer)):
            if hook is not None and not callable(hook):
                raise TypeError(f"{name} must be callable, got {hook!r}")
        interval = self.warn_interval
        if (
            isinstance(interval, bool)
            or not isinstance(interval, (int, float))
            or not 0 <= interval < float("inf")
        ):
            raise ConfigError(f"warn_interval must be a number of seconds >= 0, got {interval!r}")
        engine = self.engine
        if engine is None or isinstance(engine, str):
            put("engine_name", resolve_engine(engine))
            put("transport_factory", None)  # the named engine, imported at start
        elif callable(engine):
            put("engine_name", str(getattr(engine, "name", type(engine).__name__)))
            put("transport_factory", engine)
        else:
            raise ConfigError(
                f"engine must be 'paho', 'gmqtt' or a transport factory, got {engine!r}"
            )
        self._check_processes()

    def _check_processes(self) -> None:
        check_positive("processes", self.processes)
        group = self.shared_group
        if group is not None and (
            not isinstance(group, str) or not group or any(c in group for c in "/+#\x00")
        ):
            raise ConfigError(
                f"shared_group must be a non-empty name without '/', '+' or '#', got {group!r}"
            )
        if self.processes == 1:
            return
        if self.loop is not None:
            raise ConfigError("processes > 1 runs callbacks in other processes: loop= cannot go")
        capabilities = getattr(self.broker, "capabilities", None)
        gaps = capabilities.missing(needs=["shared_subscriptions"]) if capabilities else []
        if gaps:
            raise ConfigError(
                f"processes > 1 shares one subscription among processes, and this broker lacks "
                f"{gaps[0]}; use mosquitto or the embedded broker"
            )
        if self.transport_factory is not None:
            raise ConfigError("processes > 1 needs engine='paho' or 'gmqtt', not a factory")
        for name, value in (
            ("callback", self.callback),
            ("callbacks", self.callbacks),
            ("on_error", self.on_error),
        ):
            check_picklable(name, value)

    def _check_session(self) -> None:
        clean_session, session_expiry = self.clean_session, self.session_expiry
        if clean_session is not None and self.protocol == 5:
            raise ConfigError("clean_session is for MQTT 3.1.1; with protocol=5 use session_expiry")
        if session_expiry is not None and self.protocol != 5:
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
        object.__setattr__(self, "client_id", check_text("client_id", self.client_id))
        if self.persistent and not self.client_id:
            raise ConfigError("a persistent session needs a fixed client_id to resume it")

    # -- derived ----------------------------------------------------------------------------------

    @property
    def persistent(self) -> bool:
        """Whether the broker keeps the session after a disconnect."""
        return self.clean_session is False or bool(self.session_expiry)

    @property
    def overflow_policy(self) -> Overflow:
        """The overflow policy in force (``overflow=None`` is resolved from ``ack``)."""
        assert self.overflow is not None  # resolved in __post_init__
        return self.overflow

    @property
    def manual_ack(self) -> bool:
        return self.ack == "after_processing"

    @property
    def lanes(self) -> int:
        """Buffer lanes: one per worker when messages of a topic must stay in order."""
        return self.worker_threads if self.ordered == "topic" else 1

    @property
    def max_batch(self) -> int:
        # in-flight batches sit outside the bound: keep them small next to it
        return max(1, min(MAX_BATCH, self.max_queue_size // (2 * self.worker_threads)))

    @property
    def any_async(self) -> bool:
        callbacks = [fn for _, fn in self.routes] + ([self.callback] if self.callback else [])
        return any(is_async_callable(fn) for fn in callbacks)

    def url(self) -> BrokerURL:
        """The broker's URL with the credentials given here. A broker object's URL is read now
        (it has one only once started)."""
        broker = self.broker
        if isinstance(broker, BrokerURL):
            url = broker
        elif isinstance(broker, str):
            url = parse_broker(broker)
        else:
            url = broker.url
        if self.username is not None or self.password is not None:
            # the URL's own check refuses a password without a username
            url = dataclasses.replace(url, username=self.username, password=self.password)
        return url

    def tls_for_broker(self) -> bool | ssl.SSLContext | None:
        """``tls`` as given; else, for a broker object with TLS (``EmbeddedBroker(tls=True)``),
        a context that trusts its CA and presents a client certificate where it asks for one."""
        client_tls = getattr(self.broker, "client_tls", None)
        if self.tls is None and is_broker(self.broker) and callable(client_tls):
            context = client_tls()
            return context if isinstance(context, ssl.SSLContext) else None
        return self.tls

    def make_transport_factory(self) -> TransportFactory:
        """The transport factory: the one given, else the named engine's class (imported now)."""
        if self.transport_factory is not None:
            return self.transport_factory
        return factory(self.engine_name)  # type: ignore[arg-type]  # resolved in __post_init__
