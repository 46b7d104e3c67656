"""A raw MQTT client for the hostile-client cases: bytes out, packets in, nothing interpreted.

A case states the bytes it sends (encoded with the broker's own codec, or written by hand when
they must be malformed) and what comes back: packets, and whether and when the connection closed.
The same bytes go to every engine.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from mqtt_surge import BrokerURL
from mqtt_surge import mqtt as p

WAIT = 10.0


class Closed(Exception):
    """The broker closed the connection."""


class Raw:
    def __init__(self, url: BrokerURL, timeout: float = WAIT) -> None:
        self.sock = socket.create_connection((url.host, url.port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = bytearray()
        self.eof = False

    def send(self, data: bytes) -> Raw:
        self.sock.sendall(data)
        return self

    def connect(self, client_id: str = "", *, level: int = 5, **fields: Any) -> tuple[int, Any]:
        """Send a CONNECT, return (CONNACK's return code, session present)."""
        self.send(p.encode_connect(client_id, level=level, **fields))
        kind, body = self.packet()
        assert kind >> 4 == p.CONNACK, f"expected CONNACK, got packet type {kind >> 4}"
        return body[1], bool(body[0] & 1)

    def packet(self, timeout: float = WAIT) -> tuple[int, bytes]:
        """The next packet (first byte, body); :class:`Closed` if the connection ends first."""
        deadline = time.monotonic() + timeout
        while True:
            framed = p.split_packet(self._buffer)
            if framed is not None:
                first, start, end = framed
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
