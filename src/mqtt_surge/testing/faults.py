"""A TCP proxy in front of a broker that can break the link on purpose, for tests of what happens
when the network does.

``FaultProxy(broker).start()`` listens on 127.0.0.1 and a free port and forwards every connection
to the broker. The code under test connects to ``proxy.url`` instead of the broker. Each control
takes effect at once, on every open connection and on those that come later, until ``heal()``:

- ``cut(reset=True)``: end every open connection, with a TCP reset (``reset=False``: a FIN);
- ``blackhole()``: forward nothing either way but keep every socket open (a half-open link, as
  when a cable is pulled or a NAT forgets the flow): only a keepalive notices. What was sent in the
  meantime is held, as TCP holds it during a network partition, and flows once the link heals;
- ``refuse_new()``: new connections are closed as soon as they are accepted;
- ``latency(ms, jitter_ms=0)``: every chunk waits that long before it is forwarded (order kept);
- ``throttle(bytes_per_s)``: each direction forwards at most that many bytes a second.

``blackhole()``, ``refuse_new()``, ``latency()`` and ``throttle()`` also work as context managers
that heal when the block ends. The proxy runs on an asyncio loop in a thread of its own, so it
works the same from synchronous tests, async tests and without pytest.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..runtime.errors import ConfigError
from ..runtime.lifecycle import StartStop
from ..runtime.loop import LoopThread
from ..runtime.url import BrokerURL, parse_broker
from ._proxy import ProxyCounts, _Fault, _Link, _reset

if TYPE_CHECKING:
    from ..brokers import Broker

__all__ = ["FaultProxy", "ProxyCounts"]

logger = logging.getLogger("mqtt_surge")

_CHUNK = 65536


class FaultProxy(StartStop):
    """A TCP proxy on 127.0.0.1 in front of ``broker`` (a broker object, a URL or host:port)."""

    def __init__(
        self,
        broker: Broker | BrokerURL | str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if isinstance(broker, str):
            broker = parse_broker(broker)
        if not isinstance(broker, BrokerURL) and not hasattr(type(broker), "url"):
            raise ConfigError(f"broker must be a broker object, a URL or host:port, got {broker!r}")
        if not 0 <= port <= 65535:
            raise ConfigError(f"port {port} is out of range: use 0 (any free port) or 1-65535")
        self._broker = broker
        self._host = host
        self._requested_port = port
        self._port = 0
        self._thread = LoopThread("mqtt-surge-fault-proxy")
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._lock = threading.Lock()
        self._accepted = threading.Condition(self._lock)
        # the controls, read by the pumps on the loop thread; written under the lock
        self._flowing: asyncio.Event | None = None
        self._refusing = False
        self._latency = (0.0, 0.0)
        self._rate: float | None = None
        self._connections = self._refused = self._bytes_up = self._bytes_down = 0
        self._answered = 0  # connections on which the broker has sent something back

    # -- address --------------------------------------------------------------------------------

    @property
    def upstream(self) -> BrokerURL:
        return self._broker if isinstance(self._broker, BrokerURL) else self._broker.url

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
        """The proxy's address with the broker's credentials, scheme (TLS, WebSocket) and path:
        what the code under test uses. The proxy passes bytes as they are, so TLS and WebSocket
        links go through it end to end."""
        return dataclasses.replace(self.upstream, host=self._host, port=self.port)

    def counts(self) -> ProxyCounts:
        with self._lock:
            return ProxyCounts(
                connections=self._connections,
                open=len(self._links),
                answered=self._answered,
                refused=self._refused,
                bytes_up=self._bytes_up,
                bytes_down=self._bytes_down,
            )

    def wait_connections(self, count: int, timeout: float = 10.0) -> ProxyCounts:
        """Wait until ``count`` connections in all have been accepted (e.g. the client under test
        came back after a ``cut()``); ``AssertionError`` after ``timeout``."""
        return self._wait(lambda: self._connections >= count, f"{count} connection(s)", timeout)

    def wait_answered(self, count: int, timeout: float = 10.0) -> ProxyCounts:
        """Wait until the broker has answered on ``count`` connections in all (for MQTT: sent
        its CONNACK), i.e. a client that came back is connected again, not just accepted."""
        return self._wait(lambda: self._answered >= count, f"{count} answered", timeout)

    def _wait(self, done: Callable[[], bool], what: str, timeout: float) -> ProxyCounts:
        with self._accepted:
            if not self._accepted.wait_for(done, timeout):
                raise AssertionError(
                    f"{self!r}: not {what} within {timeout:g}s ({self._connections} accepted, "
                    f"{self._answered} answered)"
                )
        return self.counts()

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> FaultProxy:
        if self._thread.loop is not None:
            return self
        self._thread.start()
        try:
            self._port = self._thread.run(self._serve(), timeout)
        except BaseException:
            self.stop()
            raise
        return self

    async def _serve(self) -> int:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(
            self._accept, self._host, self._port or self._requested_port, reuse_address=True
        )
        return int(self._server.sockets[0].getsockname()[1])

    def stop(self) -> None:
        """Close the listener and every proxied connection; idempotent. The port is kept, so a
        later ``start()`` listens on the same address."""
        if self._thread.loop is None:
            return
        with contextlib.suppress(Exception):
            self._thread.run(self._shutdown(), 5.0)
        self._thread.stop(5.0)
        self._refusing, self._latency, self._rate = False, (0.0, 0.0), None

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        self._close_links(reset=False)

    def __repr__(self) -> str:
        state = f"127.0.0.1:{self._port}" if self._port else "(not started)"
        return f"<FaultProxy {state} -> {self.upstream.redacted}>"

    # -- the controls ---------------------------------------------------------------------------

    def cut(self, reset: bool = True) -> None:
        """End every open connection now: a TCP reset (``reset=False``: an orderly FIN). New
        connections are forwarded as usual."""
        self._call(lambda: self._close_links(reset))

    def blackhole(self) -> _Fault[FaultProxy]:
        """Forward nothing, either way, on open and new connections, until :meth:`heal`."""
        self._call(lambda: self._event().clear())
        return _Fault(self)

    def refuse_new(self) -> _Fault[FaultProxy]:
        """Close every new connection as soon as it is accepted, until :meth:`heal`."""
        with self._lock:
            self._refusing = True
        return _Fault(self)

    def latency(self, ms: float, jitter_ms: float = 0.0) -> _Fault[FaultProxy]:
        """Delay every chunk by ``ms`` (plus up to ``jitter_ms`` more), keeping the order."""
        if ms < 0 or jitter_ms < 0:
            raise ConfigError(f"latency must be >= 0 ms, got ms={ms!r}, jitter_ms={jitter_ms!r}")
        with self._lock:
            self._latency = (ms / 1000, jitter_ms / 1000)
        return _Fault(self)

    def throttle(self, bytes_per_s: float) -> _Fault[FaultProxy]:
        """Forward at most ``bytes_per_s`` bytes a second in each direction of each connection."""
        if bytes_per_s <= 0:
            raise ConfigError(f"throttle needs bytes_per_s > 0, got {bytes_per_s!r}")
        with self._lock:
            self._rate = float(bytes_per_s)
        return _Fault(self)

    def heal(self) -> None:
        """Undo every control: forward again (what a blackhole held flows on), accept again."""
        with self._lock:
            self._refusing, self._latency, self._rate = False, (0.0, 0.0), None
        self._call(lambda: self._event().set())

    # -- on the loop thread ---------------------------------------------------------------------

    def _event(self) -> asyncio.Event:
        assert self._flowing is not None
        return self._flowing

    def _call(self, fn: Callable[[], object]) -> None:
        loop = self._thread.loop
        if loop is None:
            raise RuntimeError(f"{self!r} is not running: call start() first")
        done = threading.Event()

        def run() -> None:
            try:
                fn()
            finally:
                done.set()

        loop.call_soon_threadsafe(run)
        # effective at once: return only when the loop has applied it
        if not done.wait(5.0):
            raise RuntimeError(f"{self!r} did not apply the fault within 5s")

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self._connections += 1
            self._accepted.notify_all()
            refusing = self._refusing
            if refusing:
                self._refused += 1
        if refusing:
            _reset(writer)
            return
        up = self.upstream
        try:
            upstream = await asyncio.open_connection(up.host, up.port)
        except OSError as exc:
            logger.debug("mqtt_surge: fault proxy could not reach %s: %r", up.redacted, exc)
            _reset(writer)
            return
        link = _Link((reader, writer), upstream)
        with self._lock:
            self._links.add(link)
        link.tasks = [
            asyncio.ensure_future(self._pump(link, reader, upstream[1], up=True)),
            asyncio.ensure_future(self._pump(link, upstream[0], writer, up=False)),
        ]
        await asyncio.gather(*link.tasks, return_exceptions=True)
        with self._lock:
            self._links.discard(link)
        for w in link.writers():
            w.close()

    async def _pump(
        self,
        link: _Link,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        up: bool,
    ) -> None:
        flowing = self._event()
        due = 0.0  # when the last chunk was forwarded: later chunks never overtake it
        answered = up  # only the broker's side answers
        try:
            while True:
                # held, not dropped: a blackhole reads nothing, so TCP keeps what was sent
                await flowing.wait()
                rate = self._rate
                # throttled: small reads, so the pace is even rather than one burst a second
                data = await reader.read(max(1, min(_CHUNK, int(rate / 20))) if rate else _CHUNK)
                if not data:
                    break
                delay, jitter = self._latency
                if delay or jitter:
                    due = max(due, time.monotonic() + delay + random.uniform(0, jitter))  # noqa: S311
                    await asyncio.sleep(max(0.0, due - time.monotonic()))  # pace: injected latency
                await flowing.wait()
                writer.write(data)
                await writer.drain()
                with self._lock:
                    if up:
                        self._bytes_up += len(data)
                    else:
                        self._bytes_down += len(data)
                    if not answered:
                        answered = True
                        self._answered += 1
                        self._accepted.notify_all()
                if rate:
                    await asyncio.sleep(len(data) / rate)  # pace: injected bandwidth limit
        except (ConnectionError, OSError):
            pass
        finally:
            # one side ended: end the other, as a TCP connection through a router would
            for task in link.tasks:
                if task is not asyncio.current_task():
                    task.cancel()

    def _close_links(self, reset: bool) -> None:
        with self._lock:
            links = list(self._links)
        for link in links:
            for writer in link.writers():
                if reset:
                    _reset(writer)
                else:
                    writer.close()
            for task in link.tasks:
                task.cancel()
