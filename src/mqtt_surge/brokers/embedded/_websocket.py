"""MQTT over WebSocket (MQTT 5.0 chapter 6, and 3.1.1's section 6): the HTTP upgrade and the
framing are wsproto's, sans-IO like our MQTT core; the MQTT bytes go to and from an ordinary
:class:`Connection`, which cannot tell them from bytes over TCP.

wsproto rather than our own framing: the upgrade's edge cases (headers, masking, fragments,
close handshakes, pings) are its whole job, and measured against the TCP listener the framing
costs less than the TLS layer does (``benchmarks/brokers.py``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from ...runtime.errors import EngineNotInstalledError
from .._base import logger
from ._connection import Connection

try:
    import wsproto
    from wsproto import ConnectionType
    from wsproto.events import (
        AcceptConnection,
        BytesMessage,
        CloseConnection,
        Event,
        Ping,
        RejectConnection,
        Request,
        TextMessage,
    )
    from wsproto.utilities import RemoteProtocolError
except ImportError:  # an optional dependency, only for websockets=True
    wsproto = None  # type: ignore[assignment]

SUBPROTOCOL = "mqtt"  # the WebSocket subprotocol MQTT registers [MQTT-6.0.0-3]/[MQTT-6.0.0-4]
CLOSE_UNSUPPORTED_DATA = 1003  # RFC 6455 section 7.4.1: a text frame is not MQTT


def require_wsproto() -> None:
    if wsproto is None:
        raise EngineNotInstalledError(
            "websockets=True frames MQTT with wsproto: pip install 'mqtt-surge[websockets]'"
        )


class _Frames:
    """What the MQTT connection writes to, in place of its socket: each write one binary
    WebSocket message."""

    def __init__(self, link: WebSocketLink, transport: asyncio.Transport) -> None:
        self._link = link
        self._transport = transport

    def write(self, data: bytes) -> None:
        if self._link.open:  # after a close began, nothing more goes out
            self._link.send(BytesMessage(data=data))

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def close(self) -> None:
        self._link.close(1000)

    def abort(self) -> None:
        self._transport.abort()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)


class WebSocketLink(asyncio.Protocol):
    """One WebSocket connection carrying one MQTT connection."""

    def __init__(self, inner: Connection, path: str) -> None:
        self.inner = inner
        self.path = path
        self.ws = wsproto.WSConnection(ConnectionType.SERVER)
        self.transport: asyncio.Transport | None = None
        self.open = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport
        self.inner.connection_made(_Frames(self, self.transport))  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        try:
            self.ws.receive_data(data)
            for event in self.ws.events():
                self._event(event)
        except RemoteProtocolError as exc:
            logger.info("embedded broker: a bad WebSocket request or frame: %s", exc)
            if exc.event_hint is not None:
                self.send(exc.event_hint)
            self._close_transport()

    def _event(self, event: Event) -> None:
        if isinstance(event, Request):
            if event.target.split("?", 1)[0] != self.path:
                self._reject(404, f"no MQTT listener at {event.target!r}, only at {self.path!r}")
            elif SUBPROTOCOL not in event.subprotocols:
                self._reject(400, "the WebSocket subprotocol 'mqtt' was not offered")
            else:
                self.send(AcceptConnection(subprotocol=SUBPROTOCOL))
                self.open = True
        elif isinstance(event, BytesMessage):
            # an MQTT packet may span messages, and one message may hold several
            # [MQTT-6.0.0-2]: the connection frames the stream
            self.inner.data_received(bytes(event.data))
        elif isinstance(event, TextMessage):
            # MQTT travels in binary frames only: the connection is closed [MQTT-6.0.0-1]
            self.close(CLOSE_UNSUPPORTED_DATA)
        elif isinstance(event, CloseConnection):
            self.send(event.response())
            self._close_transport()
        elif isinstance(event, Ping):
            self.send(event.response())

    def _reject(self, status: int, why: str) -> None:
        logger.info("embedded broker: WebSocket upgrade refused (%d): %s", status, why)
        self.send(RejectConnection(status_code=status))
        self._close_transport()

    def send(self, event: Event) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(self.ws.send(event))

    def close(self, code: int) -> None:
        if self.open:
            self.open = False
            self.send(CloseConnection(code=code))
        self._close_transport()

    def _close_transport(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)
        self.transport = None
