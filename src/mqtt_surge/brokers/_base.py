"""What every broker engine shares: an address, start/stop, and a context manager."""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

from ..runtime.errors import BrokerStartError, ConfigError, ConnectError
from ..runtime.lifecycle import StartStop
from ..runtime.url import BrokerURL
from ..runtime.wire import probe
from ._capabilities import EVERYTHING, Capabilities
from ._options import BrokerOptions
from ._tls import BrokerTLS

logger = logging.getLogger("mqtt_surge")

DEFAULT_START_TIMEOUT = 10.0
DEFAULT_STOP_TIMEOUT = 5.0


@runtime_checkable
class Broker(Protocol):
    """The interface the fixtures, the CLI and the load suite use, whatever runs the broker."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def url(self) -> BrokerURL: ...

    @property
    def engine(self) -> str: ...

    @property
    def capabilities(self) -> Capabilities: ...

    def start(self, timeout: float = DEFAULT_START_TIMEOUT) -> Broker: ...

    def stop(self) -> None: ...

    def restart(self, timeout: float = DEFAULT_START_TIMEOUT) -> Broker: ...

    def kill(self) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def __enter__(self) -> Broker: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class BrokerBase(StartStop):
    """Shared lifecycle: ``start()`` once ready, ``stop()`` idempotent, context manager.

    Subclasses implement ``_start(deadline)`` (launch; return once listening) and ``_stop()``.
    ``start()`` then proves readiness with an MQTT CONNECT/CONNACK exchange.
    """

    engine = "base"
    #: what this engine supports (tests/conformance checks every declared behaviour)
    capabilities: Capabilities = EVERYTHING

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ConfigError(f"port {port} is out of range: use 0 (any free port) or 1-65535")
        if (username is None) != (password is None):
            raise ConfigError("give both username and password, or neither")
        self._host = host
        self._requested_port = port
        self._port = port
        self._username = username
        self._password = password
        self._lock = threading.Lock()
        self._running = False
        #: what the broker was configured with (TLS, WebSockets, logins, limits)
        self.options = BrokerOptions()
        #: the broker's certificate authority when it listens with TLS (``tls=True``), else None
        self.tls: BrokerTLS | None = None
        self._ws_port = 0  # the WebSocket listener's, once started (websockets=True)

    def _configure(self, **given: Any) -> None:
        """Engines call this from ``__init__`` with the options they were given (see
        :class:`BrokerOptions`): each is checked, and refused with the reason where this
        engine has no equivalent. The CA is made now, so ``broker.tls.ca_file`` exists before
        ``start()``."""
        options = BrokerOptions.check(**given)
        gaps = self.capabilities.missing_options(options.changed())
        if gaps:
            raise ConfigError(f"the {self.engine} broker cannot offer {'; '.join(gaps)}")
        if (
            not self.allows_anonymous(options)
            and self._username is None
            and not options.users
            and not options.use_identity_as_username
        ):
            raise ConfigError(
                "allow_anonymous=False without users= (or username=/password=): nobody could log in"
            )
        self.options = options
        self.tls = BrokerTLS(self._host, options.require_certificate) if options.tls else None

    def allows_anonymous(self, options: BrokerOptions | None = None) -> bool:
        """Whether a client without a user name gets in: as told, else only when no login
        was given (``username=`` or ``users=``)."""
        options = options or self.options
        if options.allow_anonymous is not None:
            return options.allow_anonymous
        return self._username is None and not options.users

    @property
    def logins(self) -> dict[str, str]:
        """Every user name and password that gets in (``users=`` and ``username=``)."""
        logins = dict(self.options.users or {})
        if self._username is not None and self._password is not None:
            logins[self._username] = self._password
        return logins

    def _login(self) -> tuple[str | None, str | None]:
        # the fixtures' login: the one given as username=, else the first of users=
        if self._username is not None:
            return self._username, self._password
        for name, password in (self.options.users or {}).items():
            return name, password
        return None, None

    def client_tls(self, cert: str | None = None) -> ssl.SSLContext | None:
        """What a client of this broker connects with: None without TLS, else a context that
        trusts the broker's CA and, where the broker requires a client certificate, presents
        the one made for ``cert`` (default: the fixtures' login name, else
        ``"mqtt-surge-client"``; with ``use_identity_as_username`` that name is the login)."""
        if self.tls is None:
            return None
        if not self.tls.require_certificate:
            return self.tls.client_context()
        return self.tls.client_context(cert or self._login()[0] or "mqtt-surge-client")

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError(f"{self!r} has no port yet: call start() first")
        return self._port

    @property
    def url(self) -> BrokerURL:
        """Where clients connect, with the fixtures' login (``username=``, else the first of
        ``users=``): the WebSocket listener with ``websockets=True``, else MQTT over TCP."""
        listeners = self.listeners
        if self.options.websockets:
            return listeners["wss" if self.tls else "ws"]
        return listeners["mqtts" if self.tls else "mqtt"]

    @property
    def listeners(self) -> dict[str, BrokerURL]:
        """Each listener's URL by scheme: ``mqtt`` or ``mqtts``, and ``ws`` or ``wss`` with
        ``websockets=True`` (``port`` is always the MQTT-over-TCP one)."""
        username, password = self._login()
        tcp = BrokerURL(
            scheme="mqtts" if self.tls else "mqtt",
            host=self._host,
            port=self.port,
            username=username,
            password=password,
        )
        found = {tcp.scheme: tcp}
        if self.options.websockets:
            if not self._ws_port:
                raise RuntimeError(f"{self!r} has no WebSocket port yet: call start() first")
            ws = "wss" if self.tls else "ws"
            found[ws] = BrokerURL(
                host=self._host,
                port=self._ws_port,
                scheme=ws,
                username=username,
                password=password,
                path=self.options.ws_path,
            )
        return found

    @property
    def running(self) -> bool:
        return self._running

    def start(self, timeout: float = DEFAULT_START_TIMEOUT) -> BrokerBase:
        """Start the engine and return once an MQTT CONNECT got its CONNACK.

        Raises :class:`BrokerStartError` naming host:port and the cause.
        """
        with self._lock:
            if self._running:
                return self
            try:
                self._start(timeout)
                self._wait_ready(timeout)
            except BaseException:
                self._stop()
                self._port = self._requested_port
                raise
            self._running = True
            logger.debug("%s ready at %s", self.engine, self.url)
            return self

    def _wait_ready(self, timeout: float) -> None:
        try:
            probe(
                self.listeners["mqtts" if self.tls else "mqtt"],
                timeout=timeout,
                tls_context=self._probe_context(),
            )
        except ConnectError as exc:
            raise BrokerStartError(
                f"{self.engine} broker at {self._host}:{self._port} started but did not accept "
                f"an MQTT CONNECT: {exc}{self._diagnostics()}"
            ) from exc

    def _probe_context(self) -> ssl.SSLContext | None:
        if self.tls is None:
            return None
        return self.tls.client_context("mqtt-surge-probe" if self.tls.require_certificate else None)

    def stop(self) -> None:
        """Stop the engine; leaves no thread, task, socket or child process behind. Idempotent."""
        with self._lock:
            if not self._running:
                return
            self._running = False
            # the port is kept: a later start() comes back on the same address, as a restart should
            self._stop()

    # -- faults, for tests of what clients do when the broker goes away --------------------------

    def restart(self, timeout: float = DEFAULT_START_TIMEOUT) -> BrokerBase:
        """Stop, then start again on the same port. Sessions are kept only where the engine
        keeps them across its own restart (none of the local engines persists to disk)."""
        self.stop()
        return self.start(timeout)

    def kill(self) -> None:
        """End at once, as a crash would: every client connection is dropped with nothing more
        sent (mosquitto: SIGKILL). ``start()`` brings it back on the same port."""
        with self._lock:
            if not self._running:
                return
            self._running = False
            self._kill()

    def pause(self) -> None:
        """Freeze the broker with its sockets open (mosquitto: SIGSTOP): clients see a silent
        link, noticed only by keepalives. :meth:`resume` undoes it."""
        raise NotImplementedError(
            f"pause() needs a broker in a process of its own; the {self.engine} engine runs in "
            "this process: use the mosquitto engine, or FaultProxy.blackhole() for a silent link"
        )

    def resume(self) -> None:
        """Undo :meth:`pause`."""
        raise NotImplementedError(f"resume(): the {self.engine} engine cannot be paused")

    def _kill(self) -> None:
        self._stop()

    def _diagnostics(self) -> str:
        return ""

    def _start(self, timeout: float) -> None:
        raise NotImplementedError

    def _stop(self) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        where = f"{self._host}:{self._port}" if self._port else f"{self._host}:(not started)"
        state = "running" if self._running else "stopped"
        return f"<{type(self).__name__} {where} {state}>"


def free_port(host: str) -> int:
    """A port that was free a moment ago on ``host``, for engines that cannot bind port 0.

    A race with another process is possible; callers retry on "address in use".
    """
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
