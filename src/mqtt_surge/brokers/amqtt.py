"""amqtt as a broker: an amqtt broker on its own event loop in a daemon thread, for projects
that want amqtt itself (MQTT 3.1.1 only; what it lacks is declared in its capabilities)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from ..runtime.errors import BrokerStartError, EngineNotInstalledError
from ..runtime.loop import LoopThread
from ._base import DEFAULT_STOP_TIMEOUT, BrokerBase, logger
from ._capabilities import FEATURES, MQTT5_ONLY, OPTIONS, OURS_ONLY, Capabilities

_AUTH_PLUGIN = "mqtt_surge.brokers._amqtt_auth.StaticCredentialsAuthPlugin"
KEEPALIVE_CHECK = 0.25  # seconds between checks for connections silent past 1.5x keepalive
ANONYMOUS_ONLY: Mapping[str, Any] = {
    "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
}


def _import_amqtt_broker() -> Any:
    try:
        return importlib.import_module("mqtt_surge.brokers._amqtt_broker")
    except ImportError as exc:
        raise EngineNotInstalledError(
            "the amqtt broker engine needs amqtt, which is not installed. Either:\n"
            '  - pip install "mqtt-surge[amqtt]"\n'
            "  - use the embedded engine, which needs nothing: --mqtt-broker=embedded\n"
            "  - use the mosquitto engine: --mqtt-broker=mosquitto / engine='mosquitto'\n"
            "  - point at a running broker: --mqtt-broker=mqtt://host:1883"
        ) from exc


class _TrackedStreamProtocol(asyncio.StreamReaderProtocol):
    """A stream protocol that records its transport the moment it exists, and when its client
    last sent anything.

    Registering in ``connection_made`` (synchronous) rather than in the client task means a
    connection accepted just before stop() is still found and closed. The time of the last
    bytes in, with the keepalive read from the client's CONNECT, lets the broker end a silent
    connection (amqtt does not enforce keepalives).
    """

    def __init__(
        self,
        on_client: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
        transports: set[asyncio.Transport],
        watched: set[_TrackedStreamProtocol],
    ) -> None:
        super().__init__(asyncio.StreamReader(), on_client)
        self._transports = transports
        self._watched = watched
        self._tracked: asyncio.Transport | None = None
        self._head: bytes | None = b""  # the first packet's start, until its keepalive is read
        self.keepalive = 0  # seconds, from CONNECT; 0: none asked for (or not read yet)
        self.last_in = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._tracked = cast(asyncio.Transport, transport)  # create_server makes stream transports
        self._transports.add(self._tracked)
        self._watched.add(self)
        self.last_in = asyncio.get_running_loop().time()
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.last_in = asyncio.get_running_loop().time()
        if self._head is not None:
            self._read_keepalive(data)
        super().data_received(data)

    def _read_keepalive(self, data: bytes) -> None:
        head = self._head = (self._head or b"") + data[:64]
        keepalive = connect_keepalive(head)
        if keepalive is not None or len(head) >= 64:
            self.keepalive = keepalive or 0
            self._head = None  # read: nothing more to look at

    def connection_lost(self, exc: Exception | None) -> None:
        if self._tracked is not None:
            self._transports.discard(self._tracked)
        self._watched.discard(self)
        super().connection_lost(exc)

    def abort_if_silent(self, now: float) -> bool:
        """MQTT's rule for the server: no packet for 1.5x the keepalive ends the connection
        (3.1.1 [MQTT-3.1.2-24], 5.0 [MQTT-3.1.2-22]); amqtt then publishes the will."""
        if (
            self.keepalive
            and self._tracked is not None
            and now - self.last_in > 1.5 * self.keepalive
        ):
            self._tracked.abort()
            return True
        return False


def connect_keepalive(head: bytes) -> int | None:
    """The keepalive of the CONNECT packet ``head`` starts with; None until enough has come (or
    if it is not a CONNECT)."""
    if not head or head[0] >> 4 != 1:
        return 0 if head else None  # not a CONNECT: amqtt refuses it; nothing to watch
    i, length_bytes = 1, 0
    while i < len(head) and head[i] & 0x80:  # skip the remaining-length varint
        i, length_bytes = i + 1, length_bytes + 1
        if length_bytes > 3:
            return 0
    i += 1
    if len(head) < i + 2:
        return None
    name_length = int.from_bytes(head[i : i + 2], "big")
    at = i + 2 + name_length + 2  # past the protocol name, its level and the connect flags
    if len(head) < at + 2:
        return None
    return int.from_bytes(head[at : at + 2], "big")


class AmqttBroker(BrokerBase):
    """An amqtt broker in a daemon thread (extra ``amqtt``).

    Binds ``127.0.0.1`` on a free port unless told otherwise. Without credentials any client gets
    in; with ``username``/``password`` only that login does. ``plugins`` replaces the amqtt plugin
    configuration entirely (for comparisons with amqtt's defaults).
    """

    engine = "amqtt"
    capabilities = Capabilities(
        protocols=frozenset({4}),
        features=frozenset(FEATURES)
        - MQTT5_ONLY
        - OURS_ONLY
        - {"redelivery", "dollar_topics", "shared_subscriptions"},
        options=frozenset(),
        reasons=(
            # amqtt has TLS, WebSockets and auth plugins of its own; none is wired to our
            # options, and tests that need them run on the embedded broker
            *((option, "not wired to amqtt's own settings; use embedded") for option in OPTIONS),
            *((name, "only the embedded broker (ours) has it") for name in OURS_ONLY),
            ("protocol", "amqtt 0.12 speaks MQTT 3.1.1 only; use --mqtt-broker=embedded"),
            (
                "redelivery",
                "amqtt drops an unacknowledged message from the session when the connection "
                "ends (or after 5 s without PUBACK); use --mqtt-broker=embedded",
            ),
            (
                "dollar_topics",
                "amqtt refuses a client's PUBLISH to a '$' topic and closes its connection",
            ),
            ("shared_subscriptions", "amqtt has no $share subscriptions"),
        ),
    )

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str | None = None,
        password: str | None = None,
        *,
        plugins: Mapping[str, Any] | None = None,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
        **options: Any,
    ) -> None:
        super().__init__(host, port, username, password)
        self._configure(**options)  # the broker options: refused, each with the reason
        if plugins is None:
            plugins = (
                ANONYMOUS_ONLY
                if username is None
                else {_AUTH_PLUGIN: {"username": username, "password": password}}
            )
        self._plugins = dict(plugins)
        self._stop_timeout = stop_timeout
        self._loop_thread = LoopThread("mqtt-surge-amqtt")
        self._amqtt: Any = None
        self._server: asyncio.Server | None = None
        self._keepalive_task: asyncio.Future[None] | None = None
        self._transports: set[asyncio.Transport] = set()
        self._watched: set[_TrackedStreamProtocol] = set()

    def _config(self) -> dict[str, Any]:
        return {
            # we own the TCP server and hand amqtt each connection: amqtt's own listener waits on
            # every open socket at shutdown and has no public way to tell which port it bound
            "listeners": {"default": {"type": "external"}},
            "plugins": self._plugins,
        }

    def _start(self, timeout: float) -> None:
        amqtt_broker_module = _import_amqtt_broker()
        self._loop_thread.start()
        try:
            self._port = self._loop_thread.run(self._serve(amqtt_broker_module), timeout)
        except TimeoutError:
            raise BrokerStartError(
                f"amqtt broker on {self._host}:{self._requested_port} did not start "
                f"within {timeout:g}s"
            ) from None
        except Exception as exc:
            raise BrokerStartError(
                f"amqtt broker could not start on {self._host}:{self._requested_port}: "
                f"{_root_cause(exc)}"
            ) from exc

    async def _serve(self, amqtt_broker_module: Any) -> int:
        from amqtt.adapters import StreamReaderAdapter, StreamWriterAdapter  # noqa: PLC0415

        async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await amqtt.external_connected(
                StreamReaderAdapter(reader), StreamWriterAdapter(writer), "default"
            )

        try:
            # amqtt's Broker grabs the running loop in its constructor: build it here, on its loop
            amqtt = amqtt_broker_module.SpecBroker(self._config())
            await amqtt.start()
            self._amqtt = amqtt
            self._server = await asyncio.get_running_loop().create_server(
                lambda: _TrackedStreamProtocol(on_client, self._transports, self._watched),
                self._host,
                self._port,
                reuse_address=True,
            )
        except BaseException:
            await self._shutdown()
            raise
        self._keepalive_task = asyncio.ensure_future(self._enforce_keepalives())
        return int(self._server.sockets[0].getsockname()[1])

    async def _enforce_keepalives(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(KEEPALIVE_CHECK)  # pace: a periodic check of every connection
            now = loop.time()
            for connection in list(self._watched):
                if connection.abort_if_silent(now):
                    logger.info(
                        "amqtt broker: closed a connection silent for 1.5x its keepalive (%ds)",
                        connection.keepalive,
                    )

    async def _shutdown(self) -> None:
        if self._keepalive_task is not None:
            self._keepalive_task.cancel()
            self._keepalive_task = None
        if self._server is not None:
            self._server.close()
            self._server = None
        # amqtt's shutdown stalls for seconds on connections that are still busy (and forever on
        # one that never sent CONNECT): close every socket first, so each session ends at once
        for transport in list(self._transports):
            transport.close()
        amqtt, self._amqtt = self._amqtt, None
        if amqtt is not None:
            try:
                await asyncio.wait_for(amqtt.shutdown(), self._stop_timeout)
            except asyncio.TimeoutError:
                logger.warning(
                    "amqtt broker shutdown took over %gs; aborting what is left",
                    self._stop_timeout,
                )
            except Exception:
                logger.exception("amqtt broker shutdown failed; aborting what is left")
        # close() waits to flush; whatever is still open now goes without it
        self._abort_all()

    def _stop(self) -> None:
        if self._loop_thread.loop is None:
            return
        with contextlib.suppress(Exception):  # a failed or hung shutdown: the sweep below aborts
            self._loop_thread.run(self._shutdown(), self._stop_timeout + 2)
        if not self._loop_thread.stop(self._stop_timeout + 2, sweep=self._abort_all):
            logger.warning("amqtt broker thread did not end within %gs", self._stop_timeout + 2)
        # Seen here on 3.11: a connection accepted as the loop stops can leave a transport that is
        # unreachable (a cycle through its own read callback) before connection_made ever ran, so
        # no sweep finds it and its socket stays open until some later GC. Collect it now.
        gc.collect()

    def _kill(self) -> None:
        # a crash: every socket goes at once, before amqtt can say or send anything more
        if self._loop_thread.loop is not None:
            with contextlib.suppress(Exception):
                self._loop_thread.run(_run_sync(self._abort_all), self._stop_timeout)
        self._stop()

    def _abort_all(self) -> None:
        for transport in list(self._transports):
            transport.abort()


async def _run_sync(fn: Callable[[], None]) -> None:
    fn()


def _root_cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc
