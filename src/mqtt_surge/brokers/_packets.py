"""MQTT 3.1.1 and 5.0 packets as the native broker reads and writes them.

Only what a broker needs: it decodes what clients send (CONNECT, PUBLISH, the acks, SUBSCRIBE,
UNSUBSCRIBE, PINGREQ, DISCONNECT) and encodes what it sends (CONNACK, PUBLISH, the acks, SUBACK,
UNSUBACK, PINGRESP, DISCONNECT). MQTT 5 properties are kept as a dict of property id -> value
(a list for the ones that may repeat), so that a PUBLISH can be forwarded with its properties
unchanged. It also encodes what clients send (CONNECT, SUBSCRIBE, UNSUBSCRIBE), for the raw test
clients that hold the broker to the specification.

Over 300 lines: one codec for both directions, kept whole until it moves to the MQTT core.
"""

from __future__ import annotations

import struct
from typing import Any

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = (
    8,
    9,
    10,
    11,
    12,
    13,
    14,
    15,
)

# MQTT 5 property ids used by name here
PAYLOAD_FORMAT = 0x01
MESSAGE_EXPIRY = 0x02
CONTENT_TYPE = 0x03
RESPONSE_TOPIC = 0x08
CORRELATION_DATA = 0x09
SUBSCRIPTION_ID = 0x0B
SESSION_EXPIRY = 0x11
RECEIVE_MAXIMUM = 0x21
TOPIC_ALIAS_MAXIMUM = 0x22
TOPIC_ALIAS = 0x23
USER_PROPERTY = 0x26
WILL_DELAY = 0x18
SHARED_SUB_AVAILABLE = 0x2A
REQUEST_PROBLEM_INFO = 0x17
REQUEST_RESPONSE_INFO = 0x19
MAXIMUM_PACKET_SIZE = 0x27

# the largest packet the protocol can frame: a 4-byte remaining length of 268,435,455 and its header
MAX_PACKET_SIZE = 268_435_460

_BYTE, _U16, _U32, _VARINT, _STR, _BIN, _PAIR = range(7)
_TYPES = {
    0x01: _BYTE, 0x02: _U32, 0x03: _STR, 0x08: _STR, 0x09: _BIN, 0x0B: _VARINT,
    0x11: _U32, 0x12: _STR, 0x13: _U16, 0x15: _STR, 0x16: _BIN, 0x17: _BYTE, 0x18: _U32,
    0x19: _BYTE, 0x1A: _STR, 0x1C: _STR, 0x1F: _STR, 0x21: _U16, 0x22: _U16, 0x23: _U16,
    0x24: _BYTE, 0x25: _BYTE, 0x26: _PAIR, 0x27: _U32, 0x28: _BYTE, 0x29: _BYTE, 0x2A: _BYTE,
}  # fmt: skip
_REPEATABLE = {USER_PROPERTY, SUBSCRIPTION_ID}


class PacketError(ValueError):
    """A packet the broker refuses: it closes the connection, in MQTT 5 after a DISCONNECT with
    ``reason`` when a CONNACK was already sent (MQTT 5 section 4.13)."""

    reason = 0x81

    def __init__(self, message: str, reason: int | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class MalformedPacket(PacketError):
    """A packet that cannot be parsed as the specification says (MQTT 5: 0x81)."""


class ProtocolError(PacketError):
    """A well-formed packet that breaks a rule of the protocol (MQTT 5: 0x82)."""

    reason = 0x82


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def read_varint(data: bytes | bytearray | memoryview, i: int) -> tuple[int, int]:
    """(value, next index); raises IndexError when the data ends first."""
    value, shift = 0, 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i
        shift += 7
        if shift > 21:
            raise MalformedPacket("variable byte integer longer than 4 bytes")


def read_header(buffer: bytearray) -> tuple[int, int] | None:
    """(start of the body, end of the packet) of the packet at the buffer's start, as soon as its
    fixed header has arrived (so a size can be refused before the body is read), else None."""
    try:
        length, start = read_varint(buffer, 1)
    except IndexError:
        return None
    return start, start + length


def split_packet(buffer: bytearray) -> tuple[int, int, int] | None:
    """(first byte, start of the body, end of the packet) of the packet at the buffer's start,
    or None until all of it has arrived."""
    header = read_header(buffer)
    if header is None or len(buffer) < header[1]:
        return None
    return buffer[0], header[0], header[1]


class Reader:
    """Reads the fields of one packet body."""

    __slots__ = ("data", "i")

    def __init__(self, data: bytes) -> None:
        self.data, self.i = data, 0

    def left(self) -> int:
        return len(self.data) - self.i

    def byte(self) -> int:
        if self.i >= len(self.data):
            raise MalformedPacket("packet ends early")
        value = self.data[self.i]
        self.i += 1
        return value

    def u16(self) -> int:
        if self.i + 2 > len(self.data):
            raise MalformedPacket("packet ends early")
        (value,) = struct.unpack_from("!H", self.data, self.i)
        self.i += 2
        return int(value)

    def u32(self) -> int:
        if self.i + 4 > len(self.data):
            raise MalformedPacket("packet ends early")
        (value,) = struct.unpack_from("!I", self.data, self.i)
        self.i += 4
        return int(value)

    def binary(self) -> bytes:
        n = self.u16()
        if self.i + n > len(self.data):
            raise MalformedPacket("packet ends early")
        value = self.data[self.i : self.i + n]
        self.i += n
        return bytes(value)

    def text(self) -> str:
        try:
            return self.binary().decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedPacket("a string is not valid UTF-8") from None

    def varint(self) -> int:
        try:
            value, self.i = read_varint(self.data, self.i)
        except IndexError:
            raise MalformedPacket("packet ends early") from None
        return value

    def properties(self) -> dict[int, Any]:
        length = self.varint()
        end = self.i + length
        if end > len(self.data):
            raise MalformedPacket("property length runs past the packet")
        props: dict[int, Any] = {}
        while self.i < end:
            pid = self.varint()
            kind = _TYPES.get(pid)
            if kind is None:
                raise MalformedPacket(f"unknown property id {pid:#x}")
            value = _READ[kind](self)
            if pid in _REPEATABLE:
                props.setdefault(pid, []).append(value)
            elif pid in props:
                raise MalformedPacket(f"property {pid:#x} given twice")
            else:
                props[pid] = value
        if self.i != end:
            raise MalformedPacket("a property runs past the property length")
        return props

    def pair(self) -> tuple[str, str]:
        return self.text(), self.text()

    def rest(self) -> bytes:
        value = bytes(self.data[self.i :])
        self.i = len(self.data)
        return value


# how each property type is read, indexed by _BYTE ... _PAIR
_READ = (
    Reader.byte,
    Reader.u16,
    Reader.u32,
    Reader.varint,
    Reader.text,
    Reader.binary,
    Reader.pair,
)


def _str(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return struct.pack("!H", len(raw)) + raw


def encode_properties(props: dict[int, Any] | None) -> bytes:
    if not props:
        return b"\x00"
    out = bytearray()
    for pid, value in props.items():
        values = value if pid in _REPEATABLE else [value]
        for v in values:
            out += varint(pid)
            kind = _TYPES[pid]
            if kind == _BYTE:
                out.append(v)
            elif kind == _U16:
                out += struct.pack("!H", v)
            elif kind == _U32:
                out += struct.pack("!I", v)
            elif kind == _VARINT:
                out += varint(v)
            elif kind in (_STR, _BIN):
                out += _str(v)
            else:
                out += _str(v[0]) + _str(v[1])
    return varint(len(out)) + bytes(out)


def packet(first_byte: int, body: bytes) -> bytes:
    return bytes((first_byte,)) + varint(len(body)) + body


def encode_publish(
    topic: str,
    payload: bytes,
    qos: int,
    retain: bool,
    mid: int,
    dup: bool,
    v5: bool,
    props: dict[int, Any] | None = None,
) -> bytes:
    first = PUBLISH << 4 | (8 if dup else 0) | qos << 1 | (1 if retain else 0)
    body = _str(topic) + (struct.pack("!H", mid) if qos else b"")
    if v5:
        body += encode_properties(props)
    return packet(first, body + payload)


def encode_ack(kind: int, mid: int, v5: bool, reason: int = 0) -> bytes:
    """PUBACK, PUBREC, PUBREL, PUBCOMP or UNSUBACK-less acks: the packet id, and in MQTT 5 a
    reason code when it is not success."""
    first = kind << 4 | (2 if kind == PUBREL else 0)
    body = struct.pack("!H", mid)
    if v5 and reason:
        body += bytes((reason,))
    return packet(first, body)


def encode_connack(session_present: bool, code: int, v5: bool, props: dict[int, Any]) -> bytes:
    body = bytes((1 if session_present else 0, code))
    if v5:
        body += encode_properties(props)
    return packet(CONNACK << 4, body)


def encode_suback(mid: int, codes: list[int], v5: bool) -> bytes:
    body = struct.pack("!H", mid) + (b"\x00" if v5 else b"") + bytes(codes)
    return packet(SUBACK << 4, body)


def encode_unsuback(mid: int, count: int, v5: bool) -> bytes:
    body = struct.pack("!H", mid) + (b"\x00" + bytes(count) if v5 else b"")
    return packet(UNSUBACK << 4, body)


def encode_disconnect(reason: int = 0) -> bytes:
    """An MQTT 5 DISCONNECT with a reason code (3.1.1 has no server DISCONNECT)."""
    return packet(DISCONNECT << 4, bytes((reason,)) if reason else b"")


PINGRESP_PACKET = bytes((PINGRESP << 4, 0))


def encode_connect(
    client_id: str | bytes,
    *,
    level: int = 4,
    clean: bool = True,
    keepalive: int = 60,
    props: dict[int, Any] | None = None,
    will: tuple[str | bytes, bytes, int, bool] | None = None,
    will_props: dict[int, Any] | None = None,
    username: str | bytes | None = None,
    password: bytes | None = None,
) -> bytes:
    """A CONNECT (level 3 = MQTT 3.1, 4 = 3.1.1, 5 = 5.0). Strings may be given as bytes, so a
    test can send ones that are not valid UTF-8."""
    flags = 0x02 if clean else 0
    payload = _str(client_id)
    if will is not None:
        topic, message, qos, retain = will
        flags |= 0x04 | qos << 3 | (0x20 if retain else 0)
        if level == 5:
            payload += encode_properties(will_props)
        payload += _str(topic) + _str(message)
    if username is not None:
        flags |= 0x80
        payload += _str(username)
    if password is not None:
        flags |= 0x40
        payload += _str(password)
    name = "MQIsdp" if level == 3 else "MQTT"
    body = _str(name) + bytes((level, flags)) + struct.pack("!H", keepalive)
    if level == 5:
        body += encode_properties(props)
    return packet(CONNECT << 4, body + payload)


def encode_subscribe(
    mid: int, filters: list[tuple[str | bytes, int]], v5: bool, props: dict[int, Any] | None = None
) -> bytes:
    """A SUBSCRIBE of (filter, options byte) pairs."""
    body = struct.pack("!H", mid) + (encode_properties(props) if v5 else b"")
    for topic_filter, options in filters:
        body += _str(topic_filter) + bytes((options,))
    return packet(SUBSCRIBE << 4 | 2, body)


def encode_unsubscribe(mid: int, filters: list[str | bytes], v5: bool) -> bytes:
    body = struct.pack("!H", mid) + (b"\x00" if v5 else b"")
    for topic_filter in filters:
        body += _str(topic_filter)
    return packet(UNSUBSCRIBE << 4 | 2, body)
