"""An MQTT session on a plain socket: the brokers' readiness probe, and the raw publishers of
the load suite's fleet and the benchmarks.

Two jobs need less than a client: proving a broker answers CONNECT with CONNACK (a raw TCP probe
would hang amqtt's shutdown, and a paho client costs a thread), and publishing pre-encoded
packets faster than a client library can. The bytes come from the MQTT core.
"""

from __future__ import annotations

import os
import socket
import ssl
import time

from ..mqtt.codec import read_header, split_packet
from ..mqtt.packets import CONNACK, decode_connack, encode_connect, encode_publish
from ..mqtt.packets import DISCONNECT_PACKET as DISCONNECT
from .errors import ConnectError, refusal
from .url import BrokerURL

__all__ = ["DISCONNECT", "encode_connect", "encode_publish", "open_session", "probe"]


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        buf += chunk
    return buf


def _recv_packet(sock: socket.socket) -> bytes:
    """One whole packet: the first byte, the length (a varint of up to 4 bytes), the body. A
    length that never ends is returned as it came, for the caller to refuse."""
    head = _recv_exact(sock, 2)
    while head[-1] & 0x80 and len(head) < 5:
        head += _recv_exact(sock, 1)
    header = None if head[-1] & 0x80 else read_header(head)
    if header is not None and header[1] > len(head):
        head += _recv_exact(sock, header[1] - len(head))
    return head


def open_session(
    url: BrokerURL,
    *,
    timeout: float,
    client_id: str | None = None,
    tls_context: ssl.SSLContext | None = None,
    clean_session: bool = True,
    keepalive: int = 60,
    level: int = 4,
) -> socket.socket:
    """Connect, send CONNECT, wait for CONNACK; return the connected socket. Nothing here sends
    PINGREQ: with ``keepalive`` > 0 the caller must send a packet that often (0: no limit).
    ``level`` 5 speaks MQTT 5 (whose CONNACK carries properties), 4 MQTT 3.1.1.

    Raises :class:`ConnectError` saying what was expected and what was seen.
    """
    cid = client_id or f"mqtt-surge-probe-{os.getpid()}-{time.monotonic_ns() % 10**9}"
    where = url.redacted
    try:
        sock = socket.create_connection((url.host, url.port), timeout=timeout)
    except TimeoutError as exc:
        raise ConnectError(
            f"{where}: no TCP connection within {timeout:g}s", reason="timeout"
        ) from exc
    except OSError as exc:
        raise ConnectError(
            f"{where} is unreachable: {exc.strerror or exc}", reason="unreachable"
        ) from exc
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if url.tls:
            ctx = tls_context or ssl.create_default_context()
            sock = ctx.wrap_socket(sock, server_hostname=url.host)
        sock.sendall(
            encode_connect(
                cid,
                username=url.username,
                password=url.password,
                keepalive=keepalive,
                clean=clean_session,
                level=level,
            )
        )
        head = _recv_packet(sock)
    except TimeoutError as exc:
        sock.close()
        raise ConnectError(
            f"{where} accepted TCP but sent no CONNACK within {timeout:g}s", reason="timeout"
        ) from exc
    except (OSError, ConnectionError) as exc:
        sock.close()
        raise ConnectError(
            f"{where} closed the connection before CONNACK: {exc}", reason="refused"
        ) from exc
    framed = split_packet(head)
    if framed is None or framed[0] >> 4 != CONNACK:
        sock.close()
        raise ConnectError(
            f"{where} answered CONNECT with {head.hex()} instead of a CONNACK", reason="protocol"
        )
    rc = decode_connack(head[framed[1] :], level == 5).code
    if rc:
        sock.close()
        raise refusal(rc, where)
    sock.settimeout(None)
    return sock


def probe(url: BrokerURL, *, timeout: float, tls_context: ssl.SSLContext | None = None) -> None:
    """Prove that ``url`` answers an MQTT CONNECT with a successful CONNACK, then disconnect."""
    sock = open_session(url, timeout=timeout, tls_context=tls_context)
    try:
        sock.sendall(DISCONNECT)
    finally:
        sock.close()
