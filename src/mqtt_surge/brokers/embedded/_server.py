"""The embedded broker as the fixtures see it: a listener on an asyncio loop in a daemon thread,
started, stopped and crashed on request."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable
from typing import Any

from ...runtime.errors import BrokerStartError, ConfigError
from ...runtime.loop import LoopThread
from .._base import DEFAULT_STOP_TIMEOUT, BrokerBase, logger
from .._options import BrokerOptions
from ._clock import Clock
from ._connection import Connection
from ._core import Core
from ._faults import ProtocolFaults
from ._inspect import DEFAULT_MAX_BYTES, DEFAULT_MAX_RECORDS, PacketLog
from ._sessions import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_PACKET_SIZE,
    DEFAULT_MAX_QUEUED_BYTES,
    DEFAULT_MAX_QUEUED_MESSAGES,
    DEFAULT_MAX_TOPIC_LEVELS,
)
from ._state import ClientInfo
from ._websocket import WebSocketLink, require_wsproto


@dataclasses.dataclass(frozen=True)
class BrokerStats:
    """A snapshot of the embedded broker (:meth:`EmbeddedBroker.stats`)."""

    connections: int = 0
    sessions: int = 0  # connected and persistent ones
    subscriptions: int = 0
    retained: int = 0  # topics with a retained message
    queued: dict[str, int] = dataclasses.field(default_factory=dict)  # client id -> messages
    dropped: int = 0  # for clients that did not keep up, since the start
    dropped_by_client: dict[str, int] = dataclasses.field(default_factory=dict)  # live sessions
    too_large: int = 0  # PUBLISH packets over a client's Maximum Packet Size, not sent
    topic_nodes: int = 0  # nodes of the subscription and retained trees (with their turns)


SWEEP_INTERVAL = 0.1  # seconds between checks of keepalives, will delays and session expiry
LISTEN_BACKLOG = 4096  # a fleet's connections arrive at once; Linux caps it at somaxconn


class EmbeddedBroker(BrokerBase):
    """mqtt-surge's own MQTT 3.1.1 and 5.0 broker, the fixtures' default, on an asyncio loop in
    a daemon thread. Needs nothing but the standard library.

    Binds ``127.0.0.1`` on a free port unless told otherwise; with ``username``/``password`` only
    that login gets in. ``max_packet_size`` (default 64 MiB, announced in MQTT 5's CONNACK) is
    the largest packet it accepts, refused on its fixed header; ``connect_timeout`` (default
    10 s) closes a connection whose CONNECT has not arrived by then. For a client that is away
    or does not read, at most ``max_queued_messages`` (10,000) QoS 1/2 messages and
    ``max_queued_bytes`` (64 MiB) are held beyond its in-flight window, and QoS 0 messages are
    not held at all; what is dropped is counted (:meth:`stats`). Topic names and filters of more
    than ``max_topic_levels`` (128) levels are refused.
    """

    engine = "embedded"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str | None = None,
        password: str | None = None,
        *,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
        max_packet_size: int = DEFAULT_MAX_PACKET_SIZE,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        max_queued_messages: int = DEFAULT_MAX_QUEUED_MESSAGES,
        max_queued_bytes: int = DEFAULT_MAX_QUEUED_BYTES,
        max_topic_levels: int = DEFAULT_MAX_TOPIC_LEVELS,
        inspect: bool = True,
        max_packet_records: int = DEFAULT_MAX_RECORDS,
        max_packet_bytes: int = DEFAULT_MAX_BYTES,
        **options: Any,
    ) -> None:
        amqtt_only = sorted(set(options) - {f.name for f in dataclasses.fields(BrokerOptions)})
        if amqtt_only:
            # amqtt's plugins (ACLs, taboo topics) were options of an older embedded broker:
            # say where they went instead of a bare "unexpected keyword argument"
            raise ConfigError(
                f"EmbeddedBroker does not take {', '.join(amqtt_only)}: its options are "
                f"{', '.join(f.name for f in dataclasses.fields(BrokerOptions))} (see "
                "BrokerOptions); amqtt's plugins are options of AmqttBroker "
                "(mqtt_surge.brokers.AmqttBroker, --mqtt-broker=amqtt)"
            )
        super().__init__(host, port, username, password)
        if not connect_timeout > 0:
            raise ConfigError(f"connect_timeout {connect_timeout!r} must be a positive number")
        for name, limit in (
            ("max_queued_messages", max_queued_messages),
            ("max_queued_bytes", max_queued_bytes),
            ("max_topic_levels", max_topic_levels),
            ("max_packet_records", max_packet_records),
            ("max_packet_bytes", max_packet_bytes),
        ):
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise ConfigError(f"{name} must be an int >= 1, got {limit!r}")
        self._configure(
            max_packet_size=max_packet_size, max_queued_messages=max_queued_messages, **options
        )
        if self.options.websockets:
            require_wsproto()
        self._limits: dict[str, Any] = {
            "connect_timeout": connect_timeout,
            "max_queued_bytes": max_queued_bytes,
            "max_topic_levels": max_topic_levels,
        }
        self._stop_timeout = stop_timeout
        self._loop_thread = LoopThread("mqtt-surge-embedded-broker")
        #: every packet each client sent and received, decoded when read (``inspect=False``:
        #: nothing recorded); kept across restarts, bounded (``.dropped`` counts what went)
        self.packets = PacketLog(max_packet_records, max_packet_bytes)
        self.packets.enabled = bool(inspect)
        #: the broker's clock: real time, or with ``clock="manual"`` one the test advances
        self.clock = Clock(self.options.clock)
        self.clock.on_advance(self._after_advance)
        #: protocol faults on demand (acks withheld or late, messages twice, drops, refusals)
        self.faults = ProtocolFaults(self._on_core)
        self._core: Core | None = None
        self._server: asyncio.Server | None = None
        self._ws_server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None

    def _start(self, timeout: float) -> None:
        self._loop_thread.start()
        try:
            self._port = self._loop_thread.run(self._serve(), timeout)
        except TimeoutError:
            raise BrokerStartError(
                f"embedded broker on {self._host}:{self._requested_port} did not start "
                f"within {timeout:g}s"
            ) from None
        except OSError as exc:
            raise BrokerStartError(
                f"embedded broker could not start on {self._host}:{self._requested_port}: {exc}"
            ) from exc

    async def _serve(self) -> int:
        options = self.options
        core = self._core = Core(
            options,
            self.logins,
            allow_anonymous=self.allows_anonymous(),
            clock=self.clock,
            packets=self.packets,
            **self._limits,
        )
        loop = asyncio.get_running_loop()
        context = self.tls.server_context() if self.tls else None
        self._server = await loop.create_server(
            lambda: Connection(core),
            self._host,
            self._port,
            reuse_address=True,
            backlog=LISTEN_BACKLOG,
            ssl=context,
        )
        if options.websockets:
            path = options.ws_path
            self._ws_server = await loop.create_server(
                lambda: WebSocketLink(Connection(core), path),
                self._host,
                self._ws_port,  # a restart comes back on the same port, as the TCP one does
                reuse_address=True,
                backlog=LISTEN_BACKLOG,
                ssl=context,
            )
            self._ws_port = int(self._ws_server.sockets[0].getsockname()[1])
        self._sweeper = asyncio.ensure_future(self._sweep(core))
        return int(self._server.sockets[0].getsockname()[1])

    async def _sweep(self, core: Core) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)  # pace: periodic keepalive and expiry checks
            core.sweep()

    def _on_core(self, action: Callable[[Core], Any]) -> Any:
        """Run ``action(core)`` on the broker's loop; its result."""

        async def call() -> Any:
            if self._core is None:
                raise RuntimeError(f"{self!r} is not running: start() it first")
            return action(self._core)

        if self._loop_thread.loop is None:
            raise RuntimeError(f"{self!r} is not running: start() it first")
        return self._loop_thread.run(call(), self._stop_timeout)

    def _after_advance(self) -> None:
        # what the new time makes due happens before advance() returns
        if self._core is not None and self._loop_thread.loop is not None:
            self._on_core(lambda core: core.sweep())

    def wait_disconnected(self, client_id: str, timeout: float = 10.0) -> None:
        """Return once the broker has no connection of ``client_id`` open (the client's
        DISCONNECT handled, or its connection lost, and what that ends ended: its session if
        it expires with it, its will if it had one). ``TimeoutError`` after ``timeout``."""

        async def wait() -> None:
            core = self._core
            if core is not None:
                await asyncio.wait_for(core.gone(client_id), timeout)

        if self._loop_thread.loop is not None:
            self._loop_thread.run(wait(), timeout + self._stop_timeout)

    @property
    def clients(self) -> list[ClientInfo]:
        """The clients connected now, each with what its CONNECT said."""
        return list(self._on_core(lambda core: core.clients()))

    def stats(self) -> BrokerStats:
        """What the broker holds now, and what it dropped for clients that did not keep up."""
        if self._loop_thread.loop is None or self._core is None:
            return BrokerStats()
        return self._loop_thread.run(self._stats(), self._stop_timeout)

    async def _stats(self) -> BrokerStats:
        core = self._core
        if core is None:
            return BrokerStats()
        return BrokerStats(
            connections=len(core.connections),
            sessions=len(core.sessions),
            subscriptions=core.subscriptions.count,
            retained=core.retained.count,
            queued={c: len(s.queue) for c, s in core.sessions.items() if s.queue},
            dropped=core.dropped,
            dropped_by_client={c: s.dropped for c, s in core.sessions.items() if s.dropped},
            too_large=core.too_large,
            topic_nodes=core.subscriptions.size() + core.retained.size(),
        )

    def _kill(self) -> None:
        # a crash: drop every connection first, so no will or anything else goes out
        if self._loop_thread.loop is not None:
            with contextlib.suppress(Exception):
                self._loop_thread.run(self._drop_all(), self._stop_timeout)
        self._stop()

    def _close_servers(self) -> None:
        for server in (self._server, self._ws_server):
            if server is not None:
                server.close()
        self._server = self._ws_server = None

    async def _drop_all(self) -> None:
        core, self._core = self._core, None
        self._close_servers()
        if core is not None:
            core.sessions.clear()  # a crash loses the state: no will from a dying broker
            for conn in list(core.connections):
                conn.session = None
                conn.abort()

    async def _shutdown(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        self._close_servers()
        if self._core is not None:
            for conn in list(self._core.connections):
                conn.abort()
            self._core = None

    def _stop(self) -> None:
        if self._loop_thread.loop is None:
            return
        with contextlib.suppress(Exception):
            self._loop_thread.run(self._shutdown(), self._stop_timeout)
        if not self._loop_thread.stop(self._stop_timeout):
            logger.warning("embedded broker thread did not end within %gs", self._stop_timeout)
