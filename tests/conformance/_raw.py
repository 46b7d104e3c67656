"""A raw MQTT client for the hostile-client cases: bytes out, packets in, nothing interpreted.

A case states the bytes it sends (encoded with the broker's own codec, or written by hand when
they must be malformed) and what comes back: packets, and whether and when the connection closed.
The same bytes go to every engine.
"""

from __future__ import annotations

import itertools
import socket
import ssl
import time
import uuid
from typing import Any

import wsproto
import wsproto.events as wsevents

from mqtt_surge import BrokerURL
from mqtt_surge import mqtt as p

WAIT = 10.0


class Closed(Exception):
    """The broker closed the connection."""


class Raw:
    def __init__(
        self, url: BrokerURL, timeout: float = WAIT, context: ssl.SSLContext | None = None
    ) -> None:
        sock = socket.create_connection((url.host, url.port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = context.wrap_socket(sock, server_hostname=url.host) if context else sock
        self._buffer = bytearray()
        self.eof = False
        self.level = 4
        self._mid = 0
        self.header_size = 0

    @property
    def v5(self) -> bool:
        return self.level == 5

    def send(self, data: bytes) -> Raw:
        self.sock.sendall(data)
        return self

    def connect(self, client_id: str = "", *, level: int = 5, **fields: Any) -> tuple[int, Any]:
        """Send a CONNECT, return (CONNACK's return code, session present)."""
        self.level = level
        self.send(p.encode_connect(client_id, level=level, **fields))
        kind, body = self.packet()
        assert kind >> 4 == p.CONNACK, f"expected CONNACK, got packet type {kind >> 4}"
        self.connack = p.decode_connack(body, level == 5)
        return body[1], bool(body[0] & 1)

    def next_mid(self) -> int:
        self._mid = self._mid % 65535 + 1
        return self._mid

    def expect(self, kind: int, timeout: float = WAIT) -> tuple[int, bytes]:
        """The next packet, which must be of type ``kind``."""
        first, body = self.packet(timeout)
        assert first >> 4 == kind, f"expected packet type {kind}, got {first >> 4}"
        return first, body

    def barrier(self) -> list[tuple[int, bytes]]:
        """Send PINGREQ; the packets that arrive before its PINGRESP. The broker answers in
        order, so anything it queued for this client before the PINGREQ is among them: a
        "nothing was sent" check waits on this signal, not on a sleep."""
        self.send(p.PINGREQ_PACKET)
        seen = []
        while True:
            first, body = self.packet()
            if first >> 4 == p.PINGRESP:
                return seen
            seen.append((first, body))

    def subscribe(
        self, *filters: tuple[str | bytes, int], props: dict[int, Any] | None = None
    ) -> list[int]:
        """SUBSCRIBE (filter, options) pairs; the SUBACK's codes."""
        mid = self.next_mid()
        self.send(p.encode_subscribe(mid, list(filters), self.v5, props))
        ack = p.decode_ack(*self.expect(p.SUBACK), self.v5)
        assert ack.mid == mid
        return ack.codes

    def unsubscribe(self, *filters: str | bytes) -> list[int]:
        mid = self.next_mid()
        self.send(p.encode_unsubscribe(mid, list(filters), self.v5))
        ack = p.decode_ack(*self.expect(p.UNSUBACK), self.v5)
        assert ack.mid == mid
        return ack.codes

    def publish(
        self,
        topic: str | bytes,
        payload: bytes = b"x",
        qos: int = 0,
        retain: bool = False,
        props: dict[int, Any] | None = None,
    ) -> int:
        """PUBLISH and finish its QoS flow; the PUBACK's or PUBREC's reason (0 at QoS 0)."""
        mid = self.next_mid() if qos else 0
        self.send(p.encode_publish(topic, payload, qos, retain, mid, False, self.v5, props))
        if qos == 0:
            return 0
        ack = p.decode_ack(*self.expect(p.PUBACK if qos == 1 else p.PUBREC), self.v5)
        assert ack.mid == mid
        if qos == 2 and ack.codes[0] < 0x80:
            self.send(p.encode_ack(p.PUBREL, mid, self.v5))
            assert p.decode_ack(*self.expect(p.PUBCOMP), self.v5).mid == mid
        return ack.codes[0]

    def message(self, timeout: float = WAIT) -> p.Publish:
        """The next packet, which must be a PUBLISH, decoded."""
        return p.decode_publish(*self.expect(p.PUBLISH, timeout), self.v5)

    def packet(self, timeout: float = WAIT) -> tuple[int, bytes]:
        """The next packet (first byte, body); :class:`Closed` if the connection ends first."""
        deadline = time.monotonic() + timeout
        while True:
            framed = p.split_packet(self._buffer)
            if framed is not None:
                first, start, end = framed
                self.header_size = start  # the fixed header's length: type byte, length bytes
                body = bytes(self._buffer[start:end])
                del self._buffer[:end]
                return first, body
            self._fill(deadline)

    def _fill(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no packet and no close within the timeout")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        self._take(data)

    def _take(self, data: bytes) -> None:
        """What the socket gave (empty: the broker closed it) goes into the packet stream."""
        if not data:
            self.eof = True
            raise Closed
        self._buffer += data

    def closes(self, timeout: float = WAIT) -> list[tuple[int, bytes]]:
        """Wait for the broker to close the connection; the packets it sent before, in order.
        Raises AssertionError if it is still open after ``timeout``."""
        seen = []
        deadline = time.monotonic() + timeout
        try:
            while True:
                seen.append(self.packet(max(deadline - time.monotonic(), 0.001)))
        except Closed:
            return seen
        except TimeoutError:
            raise AssertionError(
                f"the connection is still open after {timeout:g}s; got {kinds(seen)}"
            ) from None

    def refuses(self, data: bytes) -> list[tuple[int, bytes]]:
        """Send ``data`` and a PINGREQ behind it; the connection must close before the PINGRESP.
        The packets sent before the close, in order. A broker that takes ``data`` answers the
        PINGREQ: the case fails on that signal, not after a timeout."""
        self.send(data + p.PINGREQ_PACKET)
        seen = []
        try:
            while True:
                first, body = self.packet()
                assert first >> 4 != p.PINGRESP, f"still open: {kinds(seen)}, then PINGRESP"
                seen.append((first, body))
        except Closed:
            return seen

    def close(self) -> None:
        self.sock.close()


def kinds(packets: list[tuple[int, bytes]]) -> list[int]:
    return [first >> 4 for first, _ in packets]


def disconnect_reason(packets: list[tuple[int, bytes]]) -> int | None:
    """The reason code of the DISCONNECT among ``packets`` (0 when it has none), else None."""
    for first, body in packets:
        if first >> 4 == p.DISCONNECT:
            return body[0] if body else 0
    return None


def unique(prefix: str = "m") -> str:
    """A client id or topic level no other test uses (the session's brokers are shared)."""
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def publishes(packets: list[tuple[int, bytes]], v5: bool) -> list[p.Publish]:
    return [p.decode_publish(first, body, v5) for first, body in packets if first >> 4 == p.PUBLISH]


def persistent(level: int) -> dict[str, Any]:
    """CONNECT fields for a session that outlives its connection: clean session 0, and in MQTT 5
    a Session Expiry Interval (300 s) as well."""
    return {"clean": False, "props": {p.SESSION_EXPIRY: 300}} if level == 5 else {"clean": False}


class WsRaw(Raw):
    """A raw client over MQTT-over-WebSocket: the upgrade (offering ``subprotocols``), then each
    ``send`` one binary message (or the pieces of ``send_split`` one message each); what comes
    back is unframed into the same packet stream as over TCP."""

    def __init__(
        self,
        url: BrokerURL,
        timeout: float = WAIT,
        context: ssl.SSLContext | None = None,
        subprotocols: tuple[str, ...] = ("mqtt",),
    ) -> None:
        super().__init__(url, timeout, context)
        self.ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        self.sock.sendall(
            self.ws.send(
                wsevents.Request(host=url.host, target=url.path, subprotocols=list(subprotocols))
            )
        )
        self.accepted: wsevents.AcceptConnection | None = None
        self.rejected = False
        deadline = time.monotonic() + timeout
        while self.accepted is None and not self.rejected:
            self._fill(deadline)

    def send(self, data: bytes) -> Raw:
        self.sock.sendall(self.ws.send(wsevents.BytesMessage(data=data)))
        return self

    def send_split(self, data: bytes, *cuts: int) -> WsRaw:
        """``data`` in pieces, each a WebSocket message of its own, cut at ``cuts``."""
        edges = [0, *cuts, len(data)]
        for start, end in itertools.pairwise(edges):
            self.send(data[start:end])
        return self

    def send_text(self, text: str) -> WsRaw:
        self.sock.sendall(self.ws.send(wsevents.TextMessage(data=text)))
        return self

    def _take(self, data: bytes) -> None:
        self.ws.receive_data(data or None)
        for event in self.ws.events():
            if isinstance(event, wsevents.AcceptConnection):
                self.accepted = event
            elif isinstance(event, (wsevents.RejectConnection, wsevents.RejectData)):
                self.rejected = True
            elif isinstance(event, wsevents.BytesMessage):
                self._buffer += event.data
            elif isinstance(event, wsevents.CloseConnection):
                self.eof = True
                raise Closed
        if not data:
            self.eof = True
            raise Closed
