"""MQTT 3.1.1 and 5.0 control packets: their types, an encoder for each packet either side
sends, and the general PUBLISH decoder (3.1.1 chapter 3; MQTT 5 chapter 3).

Strings may be given as bytes, so that a test can send ones a well-behaved client never would.
"""

from __future__ import annotations

import functools
import struct
from typing import Any, NamedTuple

from .codec import (
    WILL,
    MalformedPacket,
    PacketError,
    ProtocolError,
    Reader,
    encode_properties,
    packet,
    string,
    varint,
)
from .topics import SHARE_PREFIX

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = range(8, 16)

PINGREQ_PACKET = bytes((PINGREQ << 4, 0))
PINGRESP_PACKET = bytes((PINGRESP << 4, 0))
DISCONNECT_PACKET = bytes((DISCONNECT << 4, 0))


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
    password: str | bytes | None = None,
) -> bytes:
    """A CONNECT; ``level`` 3 is MQTT 3.1, 4 is 3.1.1, 5 is 5.0."""
    flags = 0x02 if clean else 0
    payload = string(client_id)
    if will is not None:
        topic, message, qos, retain = will
        flags |= 0x04 | qos << 3 | (0x20 if retain else 0)
        if level == 5:
            payload += encode_properties(will_props)
        payload += string(topic) + string(message)
    if username is not None:
        flags |= 0x80
        payload += string(username)
    if password is not None:
        flags |= 0x40
        payload += string(password)
    body = string("MQIsdp" if level == 3 else "MQTT") + bytes((level, flags))
    body += struct.pack("!H", keepalive)
    if level == 5:
        body += encode_properties(props)
    return packet(CONNECT << 4, body + payload)


def encode_connack(session_present: bool, code: int, v5: bool, props: dict[int, Any]) -> bytes:
    body = bytes((1 if session_present else 0, code))
    if v5:
        body += encode_properties(props)
    return packet(CONNACK << 4, body)


def encode_publish(
    topic: str | bytes,
    payload: bytes,
    qos: int = 0,
    retain: bool = False,
    mid: int = 0,
    dup: bool = False,
    v5: bool = False,
    props: dict[int, Any] | None = None,
) -> bytes:
    first = PUBLISH << 4 | (8 if dup else 0) | qos << 1 | (1 if retain else 0)
    body = string(topic) + (struct.pack("!H", mid) if qos else b"")
    if v5:
        body += encode_properties(props)
    return packet(first, body + payload)


@functools.lru_cache(maxsize=4096)  # a bound: topics and sizes are the senders' to choose
def publish_prefix(
    topic: str | bytes, qos: int, payload_size: int, v5: bool = False, retain: bool = False
) -> bytes:
    """What precedes the packet id of every PUBLISH (no DUP, no properties) of ``payload_size``
    bytes on ``topic``: its fixed header and topic name. Kept for the next message of that kind
    (a broker's deliveries, a load client's batches), it frames any number of such messages
    (:func:`frame_publish`) into the bytes :func:`encode_publish` makes."""
    name = string(topic)
    length = len(name) + (2 if qos else 0) + (1 if v5 else 0) + payload_size
    return bytes((PUBLISH << 4 | qos << 1 | (1 if retain else 0),)) + varint(length) + name


_NO_PROPERTIES = b"\x00"


def frame_publish(prefix: bytes, qos: int, mid: int, payload: bytes, v5: bool) -> bytes:
    """A PUBLISH from its :func:`publish_prefix`: the packet id (QoS > 0), in MQTT 5 an empty
    property list, the payload."""
    if qos:
        prefix += mid.to_bytes(2, "big")
    return prefix + _NO_PROPERTIES + payload if v5 else prefix + payload


def encode_ack(kind: int, mid: int, v5: bool, reason: int = 0) -> bytes:
    """PUBACK, PUBREC, PUBREL or PUBCOMP: the packet id, and in MQTT 5 a reason code when it is
    not success."""
    first = kind << 4 | (2 if kind == PUBREL else 0)
    if v5 and reason:
        return bytes((first, 3)) + mid.to_bytes(2, "big") + bytes((reason,))
    return bytes((first, 2)) + mid.to_bytes(2, "big")  # a broker sends one per message: no call


def encode_subscribe(
    mid: int, filters: list[tuple[str | bytes, int]], v5: bool, props: dict[int, Any] | None = None
) -> bytes:
    """A SUBSCRIBE of (filter, options byte) pairs."""
    body = struct.pack("!H", mid) + (encode_properties(props) if v5 else b"")
    for topic_filter, options in filters:
        body += string(topic_filter) + bytes((options,))
    return packet(SUBSCRIBE << 4 | 2, body)


def encode_suback(mid: int, codes: list[int], v5: bool) -> bytes:
    body = struct.pack("!H", mid) + (b"\x00" if v5 else b"") + bytes(codes)
    return packet(SUBACK << 4, body)


def encode_unsubscribe(mid: int, filters: list[str | bytes], v5: bool) -> bytes:
    body = struct.pack("!H", mid) + (b"\x00" if v5 else b"")
    for topic_filter in filters:
        body += string(topic_filter)
    return packet(UNSUBSCRIBE << 4 | 2, body)


def encode_unsuback(mid: int, codes: list[int], v5: bool) -> bytes:
    """An UNSUBACK; 3.1.1 has no reason codes, so ``codes`` go out under MQTT 5 only."""
    body = struct.pack("!H", mid) + (b"\x00" + bytes(codes) if v5 else b"")
    return packet(UNSUBACK << 4, body)


def encode_disconnect(reason: int = 0) -> bytes:
    """A DISCONNECT; a reason code is MQTT 5's (a server sends DISCONNECT in MQTT 5 only)."""
    return packet(DISCONNECT << 4, bytes((reason,)) if reason else b"")


class Publish(NamedTuple):
    """A decoded PUBLISH. ``topic`` is empty when an MQTT 5 topic alias stands for it."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool
    mid: int
    props: dict[int, Any]


def decode_publish(first: int, body: bytes, v5: bool) -> Publish:
    """A PUBLISH from its fixed header's first byte and its body, every field checked."""
    qos = (first >> 1) & 3
    if qos == 3:
        raise MalformedPacket("QoS 3 [MQTT-3.3.1-4]")
    r = Reader(body)
    topic = r.text()
    mid = r.u16() if qos else 0
    if qos and mid == 0:
        raise ProtocolError("packet identifier 0 [MQTT-2.3.1-1]")
    props = r.properties(PUBLISH) if v5 else {}
    return Publish(topic, r.rest(), qos, bool(first & 1), bool(first & 8), mid, props)


class Connect(NamedTuple):
    """A decoded CONNECT (3.1.1 section 3.1; MQTT 5 section 3.1)."""

    level: int
    clean: bool
    keepalive: int
    props: dict[int, Any]
    client_id: str
    will: Publish | None  # topic, payload, QoS, retain and (MQTT 5) will properties
    username: str | None
    password: bytes | None


class UnsupportedProtocol(PacketError):
    """A CONNECT for a protocol name or level this codec does not speak (3.1.1 [MQTT-3.1.2-2]:
    CONNACK 0x01, MQTT 5: 0x84, then close)."""

    reason = 0x84


def decode_connect(body: bytes) -> Connect:
    """A CONNECT body, every field read in order; the flags' own rules checked
    ([MQTT-3.1.2-3], a will QoS of 3 [MQTT-3.1.2-14], will flags without a will
    [MQTT-3.1.2-13]/[-15], in 3.1.1 a password without a user name [MQTT-3.1.2-22])."""
    r = Reader(body)
    name, level = r.text(), r.byte()
    if name not in ("MQTT", "MQIsdp") or level not in (3, 4, 5):
        raise UnsupportedProtocol(f"protocol {name!r} level {level}")
    v5 = level == 5
    flags = r.byte()
    if flags & 0x01:
        raise MalformedPacket("reserved CONNECT flag set [MQTT-3.1.2-3]")
    will_qos, will_retain = (flags >> 3) & 3, bool(flags & 0x20)
    if not flags & 0x04 and (will_qos or will_retain):
        raise MalformedPacket("will QoS or retain set without a will [MQTT-3.1.2-13]")
    if will_qos == 3:
        raise MalformedPacket("will QoS 3 [MQTT-3.1.2-14]")
    if level < 5 and flags & 0x40 and not flags & 0x80:
        raise MalformedPacket("a password without a user name [MQTT-3.1.2-22]")
    keepalive = r.u16()
    props = r.properties(CONNECT) if v5 else {}
    client_id = r.text()
    will = None
    if flags & 0x04:
        will_props = r.properties(WILL) if v5 else {}
        topic, payload = r.text(), r.binary()
        will = Publish(topic, payload, will_qos, will_retain, False, 0, will_props)
    username = r.text() if flags & 0x80 else None
    password = r.binary() if flags & 0x40 else None
    if r.left():
        raise MalformedPacket("bytes after the CONNECT payload")
    return Connect(level, bool(flags & 0x02), keepalive, props, client_id, will, username, password)


class Subscribe(NamedTuple):
    mid: int
    props: dict[int, Any]
    filters: list[tuple[str, int]]  # (filter, options byte)


def decode_subscribe(body: bytes, v5: bool) -> Subscribe:
    """A SUBSCRIBE: a packet id other than 0 [MQTT-2.3.1-1], at least one filter
    [MQTT-3.8.3-3], options with their reserved bits 0 ([MQTT-3.8.3-4]; 3.1.1: all but QoS).
    MQTT 5 section 3.8.3.1 makes a QoS or a Retain Handling of 3 and No Local on a shared
    subscription ([MQTT-3.8.3-4]) protocol errors; 3.1.1 makes a QoS of 3 malformed."""
    r = Reader(body)
    mid = _packet_id(r)
    props = r.properties(SUBSCRIBE) if v5 else {}
    filters = []
    reserved = 0xC0 if v5 else 0xFC
    while r.left():
        topic_filter, options = r.text(), r.byte()
        if options & reserved:
            raise MalformedPacket(f"reserved subscription option bits set: {options:#04x}")
        if options & 3 == 3:
            raise (ProtocolError if v5 else MalformedPacket)("a subscription at QoS 3")
        if v5 and options & 0x30 == 0x30:
            raise ProtocolError("Retain Handling 3")
        if v5 and options & 0x04 and topic_filter.startswith(SHARE_PREFIX):
            raise ProtocolError("No Local on a shared subscription [MQTT-3.8.3-4]")
        filters.append((topic_filter, options))
    if not filters:
        raise MalformedPacket("a SUBSCRIBE with no topic filter [MQTT-3.8.3-3]")
    return Subscribe(mid, props, filters)


def decode_unsubscribe(body: bytes, v5: bool) -> Subscribe:
    """An UNSUBSCRIBE, in the shape of a SUBSCRIBE whose options are all 0: a packet id other
    than 0, at least one filter [MQTT-3.10.3-2]."""
    r = Reader(body)
    mid = _packet_id(r)
    props = r.properties(UNSUBSCRIBE) if v5 else {}
    filters = []
    while r.left():
        filters.append((r.text(), 0))
    if not filters:
        raise MalformedPacket("an UNSUBSCRIBE with no topic filter [MQTT-3.10.3-2]")
    return Subscribe(mid, props, filters)


def _packet_id(r: Reader) -> int:
    mid = r.u16()
    if not mid:
        raise MalformedPacket("packet identifier 0 [MQTT-2.3.1-1]")
    return mid


# the flags of a fixed header's first byte, by packet type: fixed by the specification for
# every type but PUBLISH [MQTT-2.2.2-1]/[MQTT-2.2.2-2]
_FLAGS = {PUBREL: 0x02, SUBSCRIBE: 0x02, UNSUBSCRIBE: 0x02}


def check_flags(first: int) -> None:
    """Refuse a fixed header whose flags are not the ones its packet type must carry."""
    kind = first >> 4
    if kind != PUBLISH and first & 0x0F != _FLAGS.get(kind, 0):
        raise MalformedPacket(f"packet type {kind} with flags {first & 0x0F:#x} [MQTT-2.2.2-2]")


class Ack(NamedTuple):
    """A PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK or UNSUBACK; ``codes`` are the reason codes
    (one for the four publish acks, 0 when absent; one per filter for SUBACK and UNSUBACK)."""

    kind: int
    mid: int
    codes: list[int]
    props: dict[int, Any]


def decode_ack(first: int, body: bytes, v5: bool) -> Ack:
    kind = first >> 4
    r = Reader(body)
    mid = r.u16()
    if kind in (SUBACK, UNSUBACK):
        props = r.properties(kind) if v5 else {}
        return Ack(kind, mid, list(r.rest()), props)
    code = r.byte() if v5 and r.left() else 0
    props = r.properties(kind) if v5 and r.left() else {}
    return Ack(kind, mid, [code], props)


class Disconnect(NamedTuple):
    reason: int
    props: dict[int, Any]


def decode_disconnect(body: bytes, v5: bool) -> Disconnect:
    r = Reader(body)
    reason = r.byte() if v5 and r.left() else 0
    props = r.properties(DISCONNECT) if v5 and r.left() else {}
    return Disconnect(reason, props)


class Connack(NamedTuple):
    session_present: bool
    code: int
    props: dict[int, Any]


def decode_connack(body: bytes, v5: bool) -> Connack:
    r = Reader(body)
    flags, code = r.byte(), r.byte()
    props = r.properties(CONNACK) if v5 and r.left() else {}
    return Connack(bool(flags & 1), code, props)
