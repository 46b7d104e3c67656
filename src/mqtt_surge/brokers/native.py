"""The native engine: mqtt-surge's own MQTT 3.1.1 and 5.0 broker, on an asyncio loop in a thread.

Written for tests, from the specifications: what a downstream test relies on behaves as the
specification (and mosquitto) does. Sessions (clean or persistent, MQTT 5 session expiry),
offline queues, redelivery of unacknowledged QoS 1/2 messages on reconnect, QoS 2 exactly once,
retained messages, wills (on a lost connection, on keepalive expiry, MQTT 5 will delay), keepalive
enforcement at 1.5x, ``$`` topics, shared subscriptions (``$share/group/filter``), and MQTT 5
properties: user properties, message expiry, response topic and correlation data, topic aliases
from clients, subscription identifiers, no-local, retain-as-published, retain handling.

Not for production: no persistence to disk, no TLS listener, no ACLs, no bridging, and limits
sized for tests (an in-flight window of 20 QoS 1/2 messages per client, as mosquitto's default;
unlimited offline queues, as mqtt-surge's mosquitto configuration).

Over 300 lines: one broker's protocol state machine (sessions, delivery, wills, keepalive,
subscriptions) that reads best in one place; the wire codec is already apart, in ``_packets``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from .._errors import BrokerStartError, ConfigError
from .._loop import LoopThread
from . import _packets as p
from ._base import DEFAULT_STOP_TIMEOUT, BrokerBase, logger

INFLIGHT_WINDOW = 20  # QoS 1/2 messages sent and not yet acknowledged, per client (mosquitto's)
RECEIVE_MAXIMUM = 20  # QoS 2 messages from one client awaiting PUBREL (announced, as mosquitto)
TOPIC_ALIAS_MAX = 10
# a packet larger than this is refused on its fixed header, before its body is read: a test
# broker lives in the test's process, and one client must not make it hold hundreds of MB
DEFAULT_MAX_PACKET_SIZE = 64 * 1024 * 1024
# a connection that has not completed its CONNECT by then is closed (mosquitto 2.0 waits 90 s,
# its default keepalive x 1.5; a test broker is told of a stuck client sooner)
DEFAULT_CONNECT_TIMEOUT = 10.0
LISTEN_BACKLOG = 4096  # a fleet's connections arrive at once; Linux caps it at somaxconn
SWEEP_INTERVAL = 0.1  # seconds between checks of keepalives, will delays and session expiry
NEVER = float("inf")


@dataclass
class _Message:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    props: dict[int, Any] | None
    expires_at: float | None
    sender: str


@dataclass
class _Subscription:
    filter: str
    parts: list[str]
    qos: int
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: int = 0
    sub_id: int | None = None
    group: str | None = None  # shared subscriptions: $share/<group>/<filter>


@dataclass
class _Outgoing:
    mid: int
    message: _Message
    qos: int
    retain: bool
    sub_ids: list[int]
    released: bool = False  # QoS 2: PUBREC came, PUBREL sent, waiting for PUBCOMP


@dataclass
class _Will:
    message: _Message
    delay: float


@dataclass
class _Session:
    client_id: str
    expiry: float = 0.0  # seconds the session outlives its connection (inf: until clean start)
    subscriptions: dict[str, _Subscription] = field(default_factory=dict)
    inflight: dict[int, _Outgoing] = field(default_factory=dict)
    queue: collections.deque[tuple[_Message, int, bool, list[int]]] = field(
        default_factory=collections.deque
    )
    qos2_in: set[int] = field(default_factory=set)
    connection: _Connection | None = None
    ended_at: float | None = None
    will_due: float | None = None
    pending_will: _Will | None = None
    _mids: itertools.cycle[int] = field(default_factory=lambda: itertools.cycle(range(1, 65536)))

    def next_mid(self) -> int:
        for mid in self._mids:
            if mid not in self.inflight:
                return mid
        raise AssertionError("unreachable")


def _parts(topic: str) -> list[str]:
    return topic.split("/")


def matches(filter_parts: list[str], topic: str, topic_parts: list[str]) -> bool:
    """Whether a filter (split on '/') matches a topic; '#' and '+' at the first level never
    match a '$' topic ([MQTT-4.7.2-1])."""
    if topic.startswith("$") and filter_parts[0] in ("#", "+"):
        return False
    n = len(topic_parts)
    for i, part in enumerate(filter_parts):
        if part == "#":
            return True  # also the parent level: 'a/#' matches 'a' [MQTT-4.7.1-2]
        if i >= n:
            return False
        if part != "+" and part != topic_parts[i]:
            return False
    return len(filter_parts) == n


def valid_filter(topic_filter: str) -> bool:
    if not topic_filter:
        return False
    levels = topic_filter.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            return False
        if "+" in level and level != "+":
            return False
    return True


class _Connection(asyncio.Protocol):
    def __init__(self, broker: _Core) -> None:
        self.broker = broker
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.session: _Session | None = None
        self.connected = False  # its CONNECT was accepted
        self.v5 = False
        self.keepalive = 0
        self.last_in = time.monotonic()  # when its last whole packet arrived
        self.aliases: dict[int, str] = {}
        self.clean_disconnect = False
        self.window = INFLIGHT_WINDOW
        self.max_packet = p.MAX_PACKET_SIZE  # the most it accepts from us (MQTT 5 CONNECT)
        self.will: _Will | None = None
        self.client_id = ""
        self.connect_expiry = 0.0  # the session expiry its CONNECT asked for

    # -- asyncio ---------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport
        self.broker.connections.add(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        try:
            while (packet := self._next_packet()) is not None:
                # keepalive counts whole control packets, not bytes [MQTT-3.1.2-24]
                self.last_in = time.monotonic()
                self.broker.handle(self, *packet)
                if self.transport is None or self.transport.is_closing():
                    return
        except p.PacketError as exc:
            self.refuse(exc)

    def _next_packet(self) -> tuple[int, bytes] | None:
        """The next whole packet, taken off the buffer; refused as soon as its first byte or its
        fixed header shows it cannot be accepted, before its body is read."""
        buffer = self.buffer
        if not buffer:
            return None
        if not self.connected and buffer[0] >> 4 != p.CONNECT:
            raise p.ProtocolError("the first packet must be CONNECT [MQTT-3.1.0-1]")
        header = p.read_header(buffer)
        if header is None:
            return None
        start, end = header
        if end > self.broker.max_packet_size:
            raise p.PacketError(
                f"a packet of {end} bytes, over the maximum of {self.broker.max_packet_size}",
                reason=0x95,
            )
        if len(buffer) < end:
            return None
        first, body = buffer[0], bytes(buffer[start:end])
        del buffer[:end]
        return first, body

    def refuse(self, exc: p.PacketError) -> None:
        """Close on a bad packet: in MQTT 5, after CONNACK, with a DISCONNECT that says why."""
        logger.info(
            "embedded broker: closing the connection of %s: %s",
            repr(self.client_id) if self.client_id else "a client before CONNECT",
            exc,
        )
        self.buffer.clear()
        if self.v5 and self.connected:
            self.write(p.encode_disconnect(exc.reason))
            self.close()
        else:
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.broker.connections.discard(self)
        self.broker.closed(self)
        self.transport = None

    # -- helpers ---------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class _Core:
    """The broker's state and logic; runs on one event loop, so it needs no locks."""

    def __init__(
        self,
        username: str | None,
        password: str | None,
        *,
        max_packet_size: int = DEFAULT_MAX_PACKET_SIZE,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        self.username, self.password = username, password
        self.max_packet_size = max_packet_size
        self.connect_timeout = connect_timeout
        self.sessions: dict[str, _Session] = {}
        self.retained: dict[str, _Message] = {}
        self.connections: set[_Connection] = set()
        self.shared_turn: dict[tuple[str, str], int] = {}
        self._ids = itertools.count(1)
        self.too_large = 0  # PUBLISH packets not sent: over the receiver's Maximum Packet Size

    # -- packets from clients --------------------------------------------------------------------

    def handle(self, conn: _Connection, first: int, body: bytes) -> None:
        kind = first >> 4
        if not conn.connected:
            self.connect(conn, p.Reader(body))  # data_received let nothing else through
        elif conn.session is None:
            return  # taken over by a newer connection: it is closing
        elif kind == p.PUBLISH:
            self.publish(conn, first, p.Reader(body))
        elif kind in (p.PUBACK, p.PUBREC, p.PUBCOMP):
            self.acked(conn, p.Reader(body).u16(), kind)
        elif kind == p.PUBREL:
            self.released(conn, p.Reader(body).u16())
        elif kind == p.SUBSCRIBE:
            self.subscribe(conn, p.Reader(body))
        elif kind == p.UNSUBSCRIBE:
            self.unsubscribe(conn, p.Reader(body))
        elif kind == p.PINGREQ:
            conn.write(p.PINGRESP_PACKET)
        elif kind == p.DISCONNECT:
            self.disconnect(conn, p.Reader(body))
        elif kind == p.CONNECT:
            raise p.ProtocolError("a second CONNECT [MQTT-3.1.0-2]")
        else:
            raise p.MalformedPacket(f"unexpected packet type {kind}")

    def connect(self, conn: _Connection, r: p.Reader) -> None:  # noqa: PLR0912, PLR0915 - the CONNECT fields, in order
        name = r.text()
        level = r.byte()
        if name not in ("MQTT", "MQIsdp") or level not in (3, 4, 5):
            # 3.1.1 "unacceptable protocol version" [MQTT-3.1.2-2]
            conn.write(p.encode_connack(False, 0x01, False, {}))
            conn.close()
            return
        conn.v5 = v5 = level == 5
        flags = r.byte()
        if flags & 0x01:
            raise p.MalformedPacket("reserved CONNECT flag set [MQTT-3.1.2-3]")
        clean = bool(flags & 0x02)
        conn.keepalive = r.u16()
        props = r.properties() if v5 else {}
        for flag in (p.REQUEST_PROBLEM_INFO, p.REQUEST_RESPONSE_INFO):
            if props.get(flag, 0) not in (0, 1):
                raise p.ProtocolError(f"property {flag:#x} is {props[flag]}, not 0 or 1")
        for limit in (p.RECEIVE_MAXIMUM, p.MAXIMUM_PACKET_SIZE):
            if props.get(limit) == 0:
                raise p.ProtocolError(f"property {limit:#x} is 0")
        client_id = r.text()
        will = None
        if flags & 0x04:
            will_props = r.properties() if v5 else {}
            topic, payload = r.text(), r.binary()
            delay = float(will_props.pop(p.WILL_DELAY, 0))
            will = _Will(
                self._message(
                    topic, payload, (flags >> 3) & 3, bool(flags & 0x20), will_props, client_id
                ),
                delay,
            )
        username = r.text() if flags & 0x80 else None
        password = r.binary() if flags & 0x40 else None
        if not self._admitted(username, password):
            code = 0x86 if v5 else 0x04
            conn.write(p.encode_connack(False, code, v5, {}))
            conn.close()
            return
        connack_props: dict[int, Any] = {}
        if not client_id:
            if not clean and not v5:
                conn.write(p.encode_connack(False, 0x02, False, {}))  # [MQTT-3.1.3-8]
                conn.close()
                return
            client_id = f"native-{next(self._ids)}"
            if v5:
                connack_props[0x12] = client_id  # assigned client identifier
        if will is not None:
            will.message.sender = client_id
        session = self.sessions.get(client_id)
        if session is not None and session.connection is not None:
            old = session.connection
            session.connection = None
            old.session = None
            self._lost(old, session, taken_over=True)  # its will goes out, as for any lost link
            if old.v5:
                old.write(p.packet(p.DISCONNECT << 4, b"\x8e\x00"))  # session taken over
            old.close()
        if clean and session is not None:
            self._end_session(session)
            session = None
        present = session is not None
        if session is None:
            session = self.sessions[client_id] = _Session(client_id)
        if v5:
            session.expiry = float(props.get(p.SESSION_EXPIRY, 0))
            if session.expiry == 0xFFFFFFFF:
                session.expiry = NEVER
            conn.window = min(INFLIGHT_WINDOW, int(props.get(p.RECEIVE_MAXIMUM, 65535)))
        else:
            session.expiry = 0.0 if clean else NEVER
        session.connection, session.ended_at = conn, None
        session.pending_will, session.will_due = None, None  # a reconnect in time: no will
        conn.session, conn.will = session, will
        conn.client_id, conn.connected = client_id, True
        conn.connect_expiry = session.expiry
        if v5:
            conn.max_packet = int(props.get(p.MAXIMUM_PACKET_SIZE, p.MAX_PACKET_SIZE))
            connack_props[p.RECEIVE_MAXIMUM] = RECEIVE_MAXIMUM
            connack_props[p.TOPIC_ALIAS_MAXIMUM] = TOPIC_ALIAS_MAX
            connack_props[p.SHARED_SUB_AVAILABLE] = 1
            if self.max_packet_size < p.MAX_PACKET_SIZE:
                connack_props[p.MAXIMUM_PACKET_SIZE] = self.max_packet_size
        conn.write(p.encode_connack(present, 0, v5, connack_props))
        # what the session had in flight goes first, again, with DUP [MQTT-4.4.0-1]
        for out in list(session.inflight.values()):
            if out.released:
                conn.write(p.encode_ack(p.PUBREL, out.mid, v5))
            else:
                self._send(conn, out, dup=True)
        self._pump(session)

    def _admitted(self, username: str | None, password: bytes | None) -> bool:
        if self.username is None:
            return True
        user_ok = hmac.compare_digest((username or "").encode(), self.username.encode())
        pass_ok = hmac.compare_digest(password or b"", (self.password or "").encode())
        return user_ok and pass_ok

    def _message(
        self,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        props: dict[int, Any] | None,
        sender: str,
    ) -> _Message:
        expires_at = None
        if props and p.MESSAGE_EXPIRY in props:
            expires_at = time.monotonic() + props[p.MESSAGE_EXPIRY]
        return _Message(topic, payload, qos, retain, props or None, expires_at, sender)

    def publish(self, conn: _Connection, first: int, r: p.Reader) -> None:
        session = conn.session
        assert session is not None
        qos, retain = (first >> 1) & 3, bool(first & 1)
        if qos == 3:
            raise p.MalformedPacket("QoS 3 [MQTT-3.3.1-4]")
        topic = r.text()
        mid = r.u16() if qos else 0
        props = r.properties() if conn.v5 else {}
        alias = props.pop(p.TOPIC_ALIAS, None)
        if alias is not None:
            topic = self._aliased(conn, alias, topic)
        if not topic or "#" in topic or "+" in topic:
            raise p.MalformedPacket(f"invalid topic name {topic!r} [MQTT-3.3.2-2]")
        payload = r.rest()
        if qos == 2 and mid in session.qos2_in:
            conn.write(p.encode_ack(p.PUBREC, mid, conn.v5))  # a resend: routed once already
            return
        if qos == 2 and conn.v5 and len(session.qos2_in) >= RECEIVE_MAXIMUM:
            # more unreleased QoS 2 messages than the CONNACK allowed (MQTT 5 section 3.3.4)
            raise p.PacketError(f"over the receive maximum of {RECEIVE_MAXIMUM}", reason=0x93)
        message = self._message(topic, payload, qos, retain, props, session.client_id)
        if retain:
            if payload:
                self.retained[topic] = message
            else:
                self.retained.pop(topic, None)  # [MQTT-3.3.1-10]
        self.route(message)
        if qos == 1:
            conn.write(p.encode_ack(p.PUBACK, mid, conn.v5))
        elif qos == 2:
            session.qos2_in.add(mid)
            conn.write(p.encode_ack(p.PUBREC, mid, conn.v5))

    @staticmethod
    def _aliased(conn: _Connection, alias: int, topic: str) -> str:
        """A client's topic alias [MQTT-3.3.2-12]: set with a topic, used without one."""
        if not 0 < alias <= TOPIC_ALIAS_MAX:
            # 0, or above the CONNACK's Topic Alias Maximum (MQTT 5 section 3.3.2.3.4)
            raise p.PacketError(f"topic alias {alias} out of range", reason=0x94)
        if topic:
            conn.aliases[alias] = topic
            return topic
        if alias not in conn.aliases:
            raise p.ProtocolError(f"unknown topic alias {alias}")
        return conn.aliases[alias]

    def acked(self, conn: _Connection, mid: int, kind: int) -> None:
        session = conn.session
        assert session is not None
        out = session.inflight.get(mid)
        if out is None:
            return
        if kind == p.PUBREC and out.qos == 2:
            out.released = True
            conn.write(p.encode_ack(p.PUBREL, mid, conn.v5))
            return
        del session.inflight[mid]
        self._pump(session)

    @staticmethod
    def released(conn: _Connection, mid: int) -> None:
        assert conn.session is not None
        conn.session.qos2_in.discard(mid)
        conn.write(p.encode_ack(p.PUBCOMP, mid, conn.v5))

    def subscribe(self, conn: _Connection, r: p.Reader) -> None:
        session = conn.session
        assert session is not None
        mid = r.u16()
        props = r.properties() if conn.v5 else {}
        sub_ids = props.get(p.SUBSCRIPTION_ID) or [None]
        codes, new = [], []
        while r.left():
            topic_filter, options = r.text(), r.byte()
            qos = options & 3
            group, plain = None, topic_filter
            if topic_filter.startswith("$share/"):
                _, group, plain = ([*topic_filter.split("/", 2), "", ""])[:3]
                if not group or "+" in group or "#" in group:
                    plain = ""
            if qos > 2 or not valid_filter(plain):
                codes.append(0x8F if conn.v5 else 0x80)
                continue
            existed = topic_filter in session.subscriptions
            sub = _Subscription(plain, _parts(plain), qos, group=group, sub_id=sub_ids[0])
            if conn.v5:
                sub.no_local = bool(options & 0x04)
                sub.retain_as_published = bool(options & 0x08)
                sub.retain_handling = (options >> 4) & 3
            session.subscriptions[topic_filter] = sub
            codes.append(qos)
            if group is None and (
                sub.retain_handling == 0 or (sub.retain_handling == 1 and not existed)
            ):
                new.append(sub)
        conn.write(p.encode_suback(mid, codes, conn.v5))
        # retained messages for the new subscriptions, after the SUBACK [MQTT-3.3.1-6]
        for sub in new:
            for topic, message in list(self.retained.items()):
                if matches(sub.parts, topic, _parts(topic)):
                    ids = [sub.sub_id] if sub.sub_id is not None else []
                    self._deliver(session, message, min(sub.qos, message.qos), True, ids)

    def unsubscribe(self, conn: _Connection, r: p.Reader) -> None:
        session = conn.session
        assert session is not None
        mid = r.u16()
        if conn.v5:
            r.properties()
        count = 0
        while r.left():
            session.subscriptions.pop(r.text(), None)
            count += 1
        conn.write(p.encode_unsuback(mid, count, conn.v5))

    def disconnect(self, conn: _Connection, r: p.Reader) -> None:
        reason = r.byte() if conn.v5 and r.left() else 0
        if conn.v5 and r.left():
            props = r.properties()
            if p.SESSION_EXPIRY in props and conn.session is not None:
                if conn.connect_expiry == 0 and props[p.SESSION_EXPIRY] != 0:
                    # a session that was to end with its connection cannot be kept [MQTT-3.14.2-2]
                    raise p.ProtocolError("DISCONNECT sets a session expiry after CONNECT set 0")
                conn.session.expiry = float(props[p.SESSION_EXPIRY])
        # a normal DISCONNECT discards the will [MQTT-3.1.2-10]; 5.0 reason 0x04 keeps it
        conn.clean_disconnect = reason != 0x04
        conn.close()

    # -- routing ---------------------------------------------------------------------------------

    def route(self, message: _Message) -> None:
        topic = message.topic
        parts = _parts(topic)
        shared: dict[tuple[str, str], list[tuple[_Session, _Subscription]]] = {}
        for session in list(self.sessions.values()):
            best: _Subscription | None = None
            retain_flag, ids = False, []
            for sub in session.subscriptions.values():
                if not matches(sub.parts, topic, parts):
                    continue
                if sub.group is not None:
                    shared.setdefault((sub.group, sub.filter), []).append((session, sub))
                    continue
                if sub.no_local and session.client_id == message.sender:
                    continue
                if best is None or sub.qos > best.qos:
                    best = sub
                retain_flag = retain_flag or sub.retain_as_published
                if sub.sub_id is not None:
                    ids.append(sub.sub_id)
            if best is not None:
                # RETAIN is 0 on forwarding, unless retain-as-published [MQTT-3.3.1-9]/[-12]
                self._deliver(
                    session,
                    message,
                    min(best.qos, message.qos),
                    message.retain and retain_flag,
                    ids,
                )
        for key, members in shared.items():
            # one member of the group gets it: take turns, preferring connected ones
            connected = [m for m in members if m[0].connection is not None] or members
            turn = self.shared_turn.get(key, 0)
            self.shared_turn[key] = turn + 1
            session, sub = connected[turn % len(connected)]
            ids = [sub.sub_id] if sub.sub_id is not None else []
            self._deliver(session, message, min(sub.qos, message.qos), False, ids)

    def _deliver(
        self, session: _Session, message: _Message, qos: int, retain: bool, ids: list[int]
    ) -> None:
        conn = session.connection
        if qos == 0:
            if conn is not None:
                self._send(conn, _Outgoing(0, message, 0, retain, ids))
            return  # QoS 0 is not kept for an absent session
        if conn is not None and len(session.inflight) < conn.window and not session.queue:
            out = _Outgoing(session.next_mid(), message, qos, retain, ids)
            session.inflight[out.mid] = out
            self._send(conn, out)
        else:
            session.queue.append((message, qos, retain, ids))

    def _pump(self, session: _Session) -> None:
        conn = session.connection
        while conn is not None and session.queue and len(session.inflight) < conn.window:
            message, qos, retain, ids = session.queue.popleft()
            if message.expires_at is not None and message.expires_at <= time.monotonic():
                continue
            out = _Outgoing(session.next_mid(), message, qos, retain, ids)
            session.inflight[out.mid] = out
            self._send(conn, out)

    def _send(self, conn: _Connection, out: _Outgoing, dup: bool = False) -> None:
        """Write one PUBLISH; one the client could not accept is dropped as if it were
        delivered and acknowledged [MQTT-3.1.2-24]/[MQTT-3.1.2-25]."""
        message = out.message
        props = None
        if conn.v5:
            props = dict(message.props) if message.props else {}
            if message.expires_at is not None:
                left = message.expires_at - time.monotonic()
                if left <= 0 and not dup:
                    if out.qos and conn.session is not None:
                        conn.session.inflight.pop(out.mid, None)
                    return  # expired: not delivered [MQTT-3.3.2-5]
                props[p.MESSAGE_EXPIRY] = max(1, int(left + 0.999))
            if out.sub_ids:
                props[p.SUBSCRIPTION_ID] = list(out.sub_ids)
        data = p.encode_publish(
            message.topic, message.payload, out.qos, out.retain, out.mid, dup, conn.v5, props
        )
        if len(data) > conn.max_packet:
            self.too_large += 1
            if out.qos and conn.session is not None:
                conn.session.inflight.pop(out.mid, None)
            return
        conn.write(data)

    # -- connections ending, sessions ending -----------------------------------------------------

    def closed(self, conn: _Connection) -> None:
        session = conn.session
        if session is None or session.connection is not conn:
            return
        session.connection = None
        conn.session = None
        self._lost(conn, session, taken_over=False)

    def _lost(self, conn: _Connection, session: _Session, *, taken_over: bool) -> None:
        now = time.monotonic()
        session.ended_at = now
        will = None if conn.clean_disconnect else conn.will
        conn.will = None
        if will is not None:
            if will.delay and session.expiry and not taken_over:
                session.pending_will = will
                session.will_due = now + min(will.delay, session.expiry)
            else:
                self._publish_will(will)
        if session.expiry == 0 and not taken_over:
            self._end_session(session)

    def _publish_will(self, will: _Will) -> None:
        message = will.message
        if message.retain:
            if message.payload:
                self.retained[message.topic] = message
            else:
                self.retained.pop(message.topic, None)
        self.route(message)

    def _end_session(self, session: _Session) -> None:
        if self.sessions.get(session.client_id) is session:
            del self.sessions[session.client_id]
        if session.pending_will is not None:
            will, session.pending_will = session.pending_will, None
            self._publish_will(will)

    def sweep(self) -> None:
        now = time.monotonic()
        for conn in list(self.connections):
            if not conn.connected:
                if now - conn.last_in > self.connect_timeout:
                    logger.info(
                        "embedded broker: closing a connection with no CONNECT after %gs",
                        self.connect_timeout,
                    )
                    conn.abort()
                continue
            # no packet for 1.5x the keepalive: the server ends the connection [MQTT-3.1.2-24]
            if conn.keepalive and now - conn.last_in > 1.5 * conn.keepalive:
                logger.info(
                    "native broker: closing a connection silent past 1.5x its keepalive (%ds)",
                    conn.keepalive,
                )
                conn.abort()
        for session in list(self.sessions.values()):
            if session.will_due is not None and now >= session.will_due:
                will, session.pending_will, session.will_due = session.pending_will, None, None
                if will is not None:
                    self._publish_will(will)
            if (
                session.connection is None
                and session.ended_at is not None
                and now - session.ended_at >= session.expiry
            ):
                self._end_session(session)


class NativeBroker(BrokerBase):
    """mqtt-surge's own MQTT 3.1.1 and 5.0 broker on an asyncio loop in a daemon thread.

    Binds ``127.0.0.1`` on a free port unless told otherwise; with ``username``/``password`` only
    that login gets in. Needs nothing but the standard library.
    """

    engine = "native"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str | None = None,
        password: str | None = None,
        *,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
        max_packet_size: int = DEFAULT_MAX_PACKET_SIZE,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        super().__init__(host, port, username, password)
        if not 2 <= max_packet_size <= p.MAX_PACKET_SIZE:
            raise ConfigError(
                f"max_packet_size {max_packet_size!r} is out of range: 2 to {p.MAX_PACKET_SIZE}"
            )
        if not connect_timeout > 0:
            raise ConfigError(f"connect_timeout {connect_timeout!r} must be a positive number")
        self._max_packet_size, self._connect_timeout = max_packet_size, connect_timeout
        self._stop_timeout = stop_timeout
        self._loop_thread = LoopThread("mqtt-surge-native-broker")
        self._core: _Core | None = None
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None

    def _start(self, timeout: float) -> None:
        self._loop_thread.start()
        try:
            self._port = self._loop_thread.run(self._serve(), timeout)
        except TimeoutError:
            raise BrokerStartError(
                f"native broker on {self._host}:{self._requested_port} did not start "
                f"within {timeout:g}s"
            ) from None
        except OSError as exc:
            raise BrokerStartError(
                f"native broker could not start on {self._host}:{self._requested_port}: {exc}"
            ) from exc

    async def _serve(self) -> int:
        core = self._core = _Core(
            self._username,
            self._password,
            max_packet_size=self._max_packet_size,
            connect_timeout=self._connect_timeout,
        )
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(core),
            self._host,
            self._port,
            reuse_address=True,
            backlog=LISTEN_BACKLOG,
        )
        self._sweeper = asyncio.ensure_future(self._sweep(core))
        return int(self._server.sockets[0].getsockname()[1])

    async def _sweep(self, core: _Core) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)  # pace: periodic keepalive and expiry checks
            core.sweep()

    def _kill(self) -> None:
        # a crash: drop every connection first, so no will or anything else goes out
        if self._loop_thread.loop is not None:
            with contextlib.suppress(Exception):
                self._loop_thread.run(self._drop_all(), self._stop_timeout)
        self._stop()

    async def _drop_all(self) -> None:
        core, self._core = self._core, None
        if self._server is not None:
            self._server.close()
            self._server = None
        if core is not None:
            core.sessions.clear()  # a crash loses the state: no will from a dying broker
            for conn in list(core.connections):
                conn.session = None
                conn.abort()

    async def _shutdown(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._core is not None:
            for conn in list(self._core.connections):
                conn.abort()
            self._core = None

    def _stop(self) -> None:
        if self._loop_thread.loop is None:
            return
        with contextlib.suppress(Exception):
            self._loop_thread.run(self._shutdown(), self._stop_timeout)
        if not self._loop_thread.stop(self._stop_timeout):
            logger.warning("native broker thread did not end within %gs", self._stop_timeout)
