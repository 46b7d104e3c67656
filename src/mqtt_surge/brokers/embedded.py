"""The embedded engine: an amqtt broker on its own event loop in a daemon thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import importlib
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from .._errors import BrokerStartError, EngineNotInstalledError
from ._base import DEFAULT_STOP_TIMEOUT, BrokerBase, logger

_AUTH_PLUGIN = "mqtt_surge.brokers._amqtt_auth.StaticCredentialsAuthPlugin"
ANONYMOUS_ONLY: Mapping[str, Any] = {
    "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
}


def _import_amqtt_broker() -> Any:
    try:
        return importlib.import_module("amqtt.broker")
    except ImportError as exc:
        raise EngineNotInstalledError(
            "the embedded broker needs amqtt, which is not installed. Either:\n"
            '  - pip install "mqtt-surge[broker]"   (or [pytest] / [load])\n'
            "  - use the mosquitto engine: --mqtt-broker=mosquitto / engine='mosquitto'\n"
            "  - point at a running broker: --mqtt-broker=mqtt://host:1883"
        ) from exc


class _TrackedStreamProtocol(asyncio.StreamReaderProtocol):
    """A stream protocol that records its transport the moment it exists.

    Registering in ``connection_made`` (synchronous) rather than in the client task means a
    connection accepted just before stop() is still found and closed.
    """

    def __init__(
        self,
        on_client: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
        transports: set[asyncio.Transport],
    ) -> None:
        super().__init__(asyncio.StreamReader(), on_client)
        self._transports = transports
        self._tracked: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._tracked = cast(asyncio.Transport, transport)  # create_server makes stream transports
        self._transports.add(self._tracked)
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._tracked is not None:
            self._transports.discard(self._tracked)
        super().connection_lost(exc)


class EmbeddedBroker(BrokerBase):
    """An amqtt broker in a daemon thread (extra ``broker``).

    Binds ``127.0.0.1`` on a free port unless told otherwise. Without credentials any client gets
    in; with ``username``/``password`` only that login does. ``plugins`` replaces the amqtt plugin
    configuration entirely (for comparisons with amqtt's defaults).
    """

    engine = "embedded"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str | None = None,
        password: str | None = None,
        *,
        plugins: Mapping[str, Any] | None = None,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
    ) -> None:
        super().__init__(host, port, username, password)
        if plugins is None:
            plugins = (
                ANONYMOUS_ONLY
                if username is None
                else {_AUTH_PLUGIN: {"username": username, "password": password}}
            )
        self._plugins = dict(plugins)
        self._stop_timeout = stop_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._amqtt: Any = None
        self._server: asyncio.Server | None = None
        self._transports: set[asyncio.Transport] = set()
        self._ready: concurrent.futures.Future[int] | None = None

    def _config(self) -> dict[str, Any]:
        return {
            # we own the TCP server and hand amqtt each connection: amqtt's own listener waits on
            # every open socket at shutdown and has no public way to tell which port it bound
            "listeners": {"default": {"type": "external"}},
            "plugins": self._plugins,
        }

    def _start(self, timeout: float) -> None:
        amqtt_broker_module = _import_amqtt_broker()
        loop = asyncio.new_event_loop()
        ready: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._loop = loop
        self._ready = ready
        self._thread = threading.Thread(
            target=self._run,
            args=(loop, amqtt_broker_module, ready),
            name="mqtt-surge-amqtt",
            daemon=True,
        )
        self._thread.start()
        try:
            self._port = ready.result(timeout)
        except concurrent.futures.TimeoutError:
            raise BrokerStartError(
                f"embedded broker on {self._host}:{self._requested_port} did not start "
                f"within {timeout:g}s"
            ) from None
        except Exception as exc:
            raise BrokerStartError(
                f"embedded broker could not start on {self._host}:{self._requested_port}: "
                f"{_root_cause(exc)}"
            ) from exc

    def _run(
        self,
        loop: asyncio.AbstractEventLoop,
        amqtt_broker_module: Any,
        ready: concurrent.futures.Future[int],
    ) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve(amqtt_broker_module, ready))
            if ready.exception() is None:
                loop.run_forever()
        except BaseException as exc:  # the thread must never die silently
            if not ready.done():
                ready.set_exception(exc)
            else:
                logger.exception("embedded broker loop failed")
        finally:
            _close_loop(loop, self._transports)

    async def _serve(self, amqtt_broker_module: Any, ready: concurrent.futures.Future[int]) -> None:
        from amqtt.adapters import StreamReaderAdapter, StreamWriterAdapter  # noqa: PLC0415

        async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await amqtt.external_connected(
                StreamReaderAdapter(reader), StreamWriterAdapter(writer), "default"
            )

        amqtt: Any = None
        try:
            # amqtt's Broker grabs the running loop in its constructor: build it here, on its loop
            amqtt = amqtt_broker_module.Broker(self._config())
            await amqtt.start()
            self._amqtt = amqtt
            self._server = await asyncio.get_running_loop().create_server(
                lambda: _TrackedStreamProtocol(on_client, self._transports),
                self._host,
                self._port,
                reuse_address=True,
            )
            ready.set_result(int(self._server.sockets[0].getsockname()[1]))
        except Exception as exc:
            if self._amqtt is not None:
                await self._shutdown()
            ready.set_exception(exc)

    async def _shutdown(self) -> None:
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
                    "embedded broker shutdown took over %gs; aborting what is left",
                    self._stop_timeout,
                )
            except Exception:
                logger.exception("embedded broker shutdown failed; aborting what is left")
        # close() waits to flush; whatever is still open now goes without it
        for transport in list(self._transports):
            transport.abort()

    def _stop(self) -> None:
        loop, thread, ready = self._loop, self._thread, self._ready
        self._loop = self._thread = self._ready = None
        if loop is None or thread is None or ready is None:
            return
        started = ready.done() and ready.exception() is None
        # RuntimeError: the loop closed on its own between the check and the call
        with contextlib.suppress(RuntimeError):
            if started and thread.is_alive():
                done = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
                with contextlib.suppress(concurrent.futures.TimeoutError):
                    done.result(self._stop_timeout + 2)
            if not loop.is_closed():
                loop.call_soon_threadsafe(loop.stop)
        thread.join(self._stop_timeout + 2)
        if thread.is_alive():
            logger.warning("embedded broker thread did not end within %gs", self._stop_timeout + 2)


def _root_cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def _close_loop(loop: asyncio.AbstractEventLoop, transports: set[asyncio.Transport]) -> None:
    """Cancel what amqtt left running, abort every socket, join the executor, close the loop."""
    try:
        # a connection accepted while the loop was stopping gets its transport and client task
        # only now: sweep until a pass finds no task left, so no socket outlives the loop
        while True:
            for transport in list(transports):
                transport.abort()
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            if not pending:
                break
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()
        # Seen here on 3.11: a connection accepted as the loop stops can leave a transport that is
        # unreachable (a cycle through its own read callback) before connection_made ever ran, so
        # no sweep finds it and its socket stays open until some later GC. Collect it now.
        gc.collect()
