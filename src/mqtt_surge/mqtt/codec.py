"""The MQTT byte layer, sans-IO: variable byte integers, the fixed header, strings, MQTT 5
properties, and a cursor over one packet body (3.1.1 section 1.5 and 2.2; MQTT 5 sections 1.5
and 2.2).

No sockets, threads or event loops: bytes in, values out, and the reverse. Every malformed input
raises :class:`MalformedPacket`, never an IndexError.
"""

from __future__ import annotations

import struct
from typing import Any

# the largest packet the protocol can frame: a 4-byte remaining length of 268,435,455 and its header
MAX_PACKET_SIZE = 268_435_460

# MQTT 5 property ids used by name (section 2.2.2.2)
PAYLOAD_FORMAT = 0x01
MESSAGE_EXPIRY = 0x02
CONTENT_TYPE = 0x03
RESPONSE_TOPIC = 0x08
CORRELATION_DATA = 0x09
SUBSCRIPTION_ID = 0x0B
SESSION_EXPIRY = 0x11
ASSIGNED_CLIENT_ID = 0x12
AUTHENTICATION_METHOD = 0x15
REQUEST_PROBLEM_INFO = 0x17
WILL_DELAY = 0x18
REQUEST_RESPONSE_INFO = 0x19
REASON_STRING = 0x1F
RECEIVE_MAXIMUM = 0x21
TOPIC_ALIAS_MAXIMUM = 0x22
TOPIC_ALIAS = 0x23
USER_PROPERTY = 0x26
MAXIMUM_PACKET_SIZE = 0x27
SHARED_SUB_AVAILABLE = 0x2A
SERVER_KEEP_ALIVE = 0x13
MAXIMUM_QOS = 0x24
RETAIN_AVAILABLE = 0x25
WILDCARD_SUB_AVAILABLE = 0x28
SUB_ID_AVAILABLE = 0x29

_BYTE, _U16, _U32, _VARINT, _STR, _BIN, _PAIR = range(7)
_TYPES = {
    0x01: _BYTE, 0x02: _U32, 0x03: _STR, 0x08: _STR, 0x09: _BIN, 0x0B: _VARINT,
    0x11: _U32, 0x12: _STR, 0x13: _U16, 0x15: _STR, 0x16: _BIN, 0x17: _BYTE, 0x18: _U32,
    0x19: _BYTE, 0x1A: _STR, 0x1C: _STR, 0x1F: _STR, 0x21: _U16, 0x22: _U16, 0x23: _U16,
    0x24: _BYTE, 0x25: _BYTE, 0x26: _PAIR, 0x27: _U32, 0x28: _BYTE, 0x29: _BYTE, 0x2A: _BYTE,
}  # fmt: skip
REPEATABLE = frozenset({USER_PROPERTY, SUBSCRIPTION_ID})

# where each property may appear (MQTT 5 section 2.2.2.2), by packet type; 0 stands for the will
# properties of a CONNECT. Anywhere else it makes the packet malformed.
WILL = 0
_C, _CA, _PB, _PA, _PREC, _PREL, _PCOMP, _S, _SA, _U, _UA, _D, _AU = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15
)  # fmt: skip
_WHERE = {
    0x01: {_PB, WILL}, 0x02: {_PB, WILL}, 0x03: {_PB, WILL}, 0x08: {_PB, WILL},
    0x09: {_PB, WILL}, 0x0B: {_PB, _S}, 0x11: {_C, _CA, _D}, 0x12: {_CA}, 0x13: {_CA},
    0x15: {_C, _CA, _AU}, 0x16: {_C, _CA, _AU}, 0x17: {_C}, 0x18: {WILL}, 0x19: {_C},
    0x1A: {_CA}, 0x1C: {_CA, _D}, 0x1F: {_CA, _PA, _PREC, _PREL, _PCOMP, _SA, _UA, _D, _AU},
    0x21: {_C, _CA}, 0x22: {_C, _CA}, 0x23: {_PB}, 0x24: {_CA}, 0x25: {_CA},
    0x26: {_C, _CA, _PB, WILL, _PA, _PREC, _PREL, _PCOMP, _S, _SA, _U, _UA, _D, _AU},
    0x27: {_C, _CA}, 0x28: {_CA}, 0x29: {_CA}, 0x2A: {_CA},
}  # fmt: skip


class PacketError(ValueError):
    """A packet a receiver refuses: it closes the connection, in MQTT 5 after a DISCONNECT with
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
    """(value, next index); IndexError when the data ends first, MalformedPacket past 4 bytes."""
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


def read_header(buffer: bytes | bytearray) -> tuple[int, int] | None:
    """(start of the body, end of the packet) of the packet at the buffer's start, as soon as its
    fixed header has arrived (so a size can be refused before the body is read), else None."""
    try:
        length, start = read_varint(buffer, 1)
    except IndexError:
        return None
    return start, start + length


def split_packet(buffer: bytes | bytearray) -> tuple[int, int, int] | None:
    """(first byte, start of the body, end of the packet) of the packet at the buffer's start,
    or None until all of it has arrived."""
    header = read_header(buffer)
    if header is None or len(buffer) < header[1]:
        return None
    return buffer[0], header[0], header[1]


def string(value: str | bytes) -> bytes:
    """A length-prefixed UTF-8 string or binary field; bytes are sent as they are, so a test can
    send ones that are not valid UTF-8."""
    raw = value.encode() if isinstance(value, str) else value
    return struct.pack("!H", len(raw)) + raw


def packet(first_byte: int, body: bytes) -> bytes:
    return bytes((first_byte,)) + varint(len(body)) + body


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
        """A UTF-8 string: well-formed, no surrogates, no U+0000 (3.1.1 [MQTT-1.5.3-1]/[-2],
        MQTT 5 [MQTT-1.5.4-1]/[-2]): anything else makes the packet malformed."""
        try:
            value = self.binary().decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedPacket("a string is not valid UTF-8") from None
        if "\x00" in value:
            raise MalformedPacket("a string holds U+0000")
        return value

    def varint(self) -> int:
        try:
            value, self.i = read_varint(self.data, self.i)
        except IndexError:
            raise MalformedPacket("packet ends early") from None
        return value

    def pair(self) -> tuple[str, str]:
        return self.text(), self.text()

    def properties(self, packet_type: int | None = None) -> dict[int, Any]:
        """MQTT 5 properties: id -> value, a list for the ones that may repeat. With
        ``packet_type`` (:data:`WILL` for a will's), one not valid there is malformed."""
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
            if packet_type is not None and packet_type not in _WHERE[pid]:
                raise MalformedPacket(
                    f"property {pid:#x} is not valid in packet type {packet_type}"
                )
            value = _READ[kind](self)
            if pid in REPEATABLE:
                props.setdefault(pid, []).append(value)
            elif pid in props:
                raise MalformedPacket(f"property {pid:#x} given twice")
            else:
                props[pid] = value
        if self.i != end:
            raise MalformedPacket("a property runs past the property length")
        return props

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


def encode_properties(props: dict[int, Any] | None) -> bytes:
    if not props:
        return b"\x00"
    out = bytearray()
    for pid, value in props.items():
        values = value if pid in REPEATABLE else [value]
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
                out += string(v)
            else:
                out += string(v[0]) + string(v[1])
    return varint(len(out)) + bytes(out)
