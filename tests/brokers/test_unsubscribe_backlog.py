"""After UNSUBACK a slow subscriber still gets the backlog queued for it before, on both engines.

MQTT 3.1.1 section 3.10.4: the server stops adding messages for the removed filter
[MQTT-3.10.4-2], completes the QoS 1/2 deliveries it has started [MQTT-3.10.4-3], and *may*
continue to deliver what it had buffered. mosquitto does, as the window frees; the embedded
broker does the same, so a subscriber's graceful stop (unsubscribe, then drain) takes as long on
both. (A drain can therefore only end in time when the broker has no deep backlog for it: the
load suite's graceful-shutdown run paces its publishers below what the probe receives.)
"""

from __future__ import annotations

import socket
import struct
import uuid

import pytest

from mqtt_surge import broker_from_spec
from mqtt_surge import mqtt as p
from mqtt_surge.runtime.wire import open_session
from mqtt_surge.testing import Publisher

from .._support import WAIT

BACKLOG = 500
WINDOW = 20  # mosquitto's max_inflight_messages and the embedded broker's window


def _packets(sock: socket.socket, quiet: float = 0.5) -> list[tuple[int, bytes]]:
    """Read until the socket is quiet for ``quiet`` seconds: (packet type, body) in order."""
    buffer = bytearray()
    sock.settimeout(quiet)
    try:
        while chunk := sock.recv(65536):
            buffer += chunk
    except TimeoutError:
        pass
    out = []
    while (found := p.split_packet(buffer)) is not None:
        first, start, end = found
        out.append((first >> 4, bytes(buffer[start:end])))
        del buffer[:end]
    return out


def _mid(publish: bytes) -> int:
    at = 2 + struct.unpack("!H", publish[:2])[0]
    return int(struct.unpack("!H", publish[at : at + 2])[0])


def _payload(publish: bytes) -> bytes:
    return publish[2 + struct.unpack("!H", publish[:2])[0] + 2 :]


@pytest.mark.parametrize("engine", ["embedded", "mosquitto"])
def test_after_unsuback_the_queued_backlog_still_follows_as_the_window_frees(
    engine: str,
) -> None:
    topic = f"backlog/{uuid.uuid4().hex}"
    with broker_from_spec(engine) as broker:
        sock = open_session(broker.url, timeout=WAIT)
        try:
            body = struct.pack("!H", 1) + struct.pack("!H", len(topic)) + topic.encode() + b"\x01"
            sock.sendall(p.packet(p.SUBSCRIBE << 4 | 2, body))
            assert _packets(sock)[0][0] == p.SUBACK
            with Publisher(broker.url) as publisher:
                for i in range(BACKLOG):  # acknowledged by the broker: all of it queued for us
                    publisher.publish(topic, str(i).encode(), qos=1)
            sock.sendall(p.packet(p.UNSUBSCRIBE << 4 | 2, struct.pack("!H", 2) + body[2:-1]))
            before = _packets(sock, quiet=1.0)
            kinds = [kind for kind, _ in before]
            assert p.UNSUBACK in kinds
            in_flight = [b for kind, b in before if kind == p.PUBLISH]
            assert 0 < len(in_flight) <= WINDOW, len(in_flight)
            # acknowledging what was in flight frees the window: the queued rest follows, and
            # nothing published after the UNSUBSCRIBE
            for publish in in_flight:
                sock.sendall(p.encode_ack(p.PUBACK, _mid(publish), False))
            with Publisher(broker.url) as publisher:
                publisher.publish(topic, b"after", qos=1)
            delivered = len(in_flight)
            while batch := [b for kind, b in _packets(sock) if kind == p.PUBLISH]:
                delivered += len(batch)
                assert all(_payload(b) != b"after" for b in batch)
                for publish in batch:
                    sock.sendall(p.encode_ack(p.PUBACK, _mid(publish), False))
            assert delivered == BACKLOG
        finally:
            sock.close()
