"""The embedded broker's protocol: each packet a client sends, and what it changes."""

from __future__ import annotations

import hmac
import itertools
import time
from typing import Any

from ...mqtt import codec, packets, topics
from .._base import logger
from ._connection import Connection
from ._routing import Router, new_message
from ._state import (
    INFLIGHT_WINDOW,
    NEVER,
    RECEIVE_MAXIMUM,
    TOPIC_ALIAS_MAX,
    Link,
    Session,
    Subscription,
    Will,
)

# a packet larger than this is refused on its fixed header, before its body is read: a test
# broker lives in the test's process, and one client must not make it hold hundreds of MB
DEFAULT_MAX_PACKET_SIZE = 64 * 1024 * 1024
# a connection that has not completed its CONNECT by then is closed (mosquitto 2.0 waits 90 s,
# its default keepalive x 1.5; a test broker is told of a stuck client sooner)
DEFAULT_CONNECT_TIMEOUT = 10.0


class Core(Router):
    """The broker's state and logic; runs on one event loop, so it needs no locks."""

    def __init__(
        self,
        username: str | None,
        password: str | None,
        *,
        max_packet_size: int = DEFAULT_MAX_PACKET_SIZE,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        super().__init__()
        self.username, self.password = username, password
        self.max_packet_size = max_packet_size
        self.connect_timeout = connect_timeout
        self.connections: set[Connection] = set()
        self._ids = itertools.count(1)

    # -- packets from clients --------------------------------------------------------------------

    def handle(self, conn: Connection, first: int, body: bytes) -> None:
        kind = first >> 4
        if not conn.connected:
            self.connect(conn, body)  # the connection let nothing else through
        elif conn.session is None:
            return  # taken over by a newer connection: it is closing
        elif kind == packets.PUBLISH:
            self.publish(conn, first, body)
        elif kind in (packets.PUBACK, packets.PUBREC, packets.PUBCOMP):
            self.acked(conn, packets.decode_ack(first, body, conn.v5).mid, kind)
        elif kind == packets.PUBREL:
            self.released(conn, packets.decode_ack(first, body, conn.v5).mid)
        elif kind == packets.SUBSCRIBE:
            self.subscribe(conn, body)
        elif kind == packets.UNSUBSCRIBE:
            self.unsubscribe(conn, body)
        elif kind == packets.PINGREQ:
            conn.write(packets.PINGRESP_PACKET)
        elif kind == packets.DISCONNECT:
            self.disconnect(conn, body)
        elif kind == packets.CONNECT:
            raise codec.ProtocolError("a second CONNECT [MQTT-3.1.0-2]")
        else:
            raise codec.MalformedPacket(f"unexpected packet type {kind}")

    def connect(self, conn: Connection, body: bytes) -> None:  # noqa: PLR0912, PLR0915 - the CONNECT's fields, in order
        try:
            packet = packets.decode_connect(body)
        except packets.UnsupportedProtocol:
            # 3.1.1 "unacceptable protocol version" [MQTT-3.1.2-2]
            conn.write(packets.encode_connack(False, 0x01, False, {}))
            conn.close()
            return
        conn.v5 = v5 = packet.level == 5
        clean, props, client_id = packet.clean, packet.props, packet.client_id
        conn.keepalive = packet.keepalive
        for flag in (codec.REQUEST_PROBLEM_INFO, codec.REQUEST_RESPONSE_INFO):
            if props.get(flag, 0) not in (0, 1):
                raise codec.ProtocolError(f"property {flag:#x} is {props[flag]}, not 0 or 1")
        for limit in (codec.RECEIVE_MAXIMUM, codec.MAXIMUM_PACKET_SIZE):
            if props.get(limit) == 0:
                raise codec.ProtocolError(f"property {limit:#x} is 0")
        will = None
        if packet.will is not None:
            topic, payload, qos, retain, _, _, will_props = packet.will
            delay = float(will_props.pop(codec.WILL_DELAY, 0))
            will = Will(new_message(topic, payload, qos, retain, will_props, client_id), delay)
        username, password = packet.username, packet.password
        if not self._admitted(username, password):
            conn.write(packets.encode_connack(False, 0x86 if v5 else 0x04, v5, {}))
            conn.close()
            return
        connack_props: dict[int, Any] = {}
        if not client_id:
            if not clean and not v5:
                conn.write(packets.encode_connack(False, 0x02, False, {}))  # [MQTT-3.1.3-8]
                conn.close()
                return
            client_id = f"embedded-{next(self._ids)}"
            if v5:
                connack_props[codec.ASSIGNED_CLIENT_ID] = client_id
        if will is not None:
            will.message.sender = client_id
        session = self.sessions.get(client_id)
        if session is not None and session.connection is not None:
            old = session.connection
            session.connection = None
            old.session = None
            self._lost(old, session, taken_over=True)  # its will goes out, as for any lost link
            if old.v5:
                old.write(packets.encode_disconnect(0x8E))  # session taken over
            old.close()
        if clean and session is not None:
            self._end_session(session)
            session = None
        present = session is not None
        if session is None:
            session = self.sessions[client_id] = Session(client_id)
        if v5:
            session.expiry = float(props.get(codec.SESSION_EXPIRY, 0))
            if session.expiry == 0xFFFFFFFF:
                session.expiry = NEVER
            conn.window = min(INFLIGHT_WINDOW, int(props.get(codec.RECEIVE_MAXIMUM, 65535)))
        else:
            session.expiry = 0.0 if clean else NEVER
        session.connection, session.ended_at = conn, None
        session.pending_will, session.will_due = None, None  # a reconnect in time: no will
        conn.session, conn.will = session, will
        conn.client_id, conn.connected = client_id, True
        conn.connect_expiry = session.expiry
        if v5:
            conn.max_packet = int(props.get(codec.MAXIMUM_PACKET_SIZE, codec.MAX_PACKET_SIZE))
            connack_props[codec.RECEIVE_MAXIMUM] = RECEIVE_MAXIMUM
            connack_props[codec.TOPIC_ALIAS_MAXIMUM] = TOPIC_ALIAS_MAX
            connack_props[codec.SHARED_SUB_AVAILABLE] = 1
            if self.max_packet_size < codec.MAX_PACKET_SIZE:
                connack_props[codec.MAXIMUM_PACKET_SIZE] = self.max_packet_size
        conn.write(packets.encode_connack(present, 0, v5, connack_props))
        self.resend(conn, session)

    def _admitted(self, username: str | None, password: bytes | None) -> bool:
        if self.username is None:
            return True
        user_ok = hmac.compare_digest((username or "").encode(), self.username.encode())
        pass_ok = hmac.compare_digest(password or b"", (self.password or "").encode())
        return user_ok and pass_ok

    def publish(self, conn: Connection, first: int, body: bytes) -> None:
        session = conn.session
        assert session is not None
        topic, payload, qos, retain, _dup, mid, props = packets.decode_publish(first, body, conn.v5)
        alias = props.pop(codec.TOPIC_ALIAS, None)
        if alias is not None:
            topic = self._aliased(conn, alias, topic)
        problem = topics.topic_problem(topic)
        if problem is not None:
            raise codec.MalformedPacket(problem)
        if qos == 2 and mid in session.qos2_in:
            # a resend: routed once already
            conn.write(packets.encode_ack(packets.PUBREC, mid, conn.v5))
            return
        if qos == 2 and conn.v5 and len(session.qos2_in) >= RECEIVE_MAXIMUM:
            # more unreleased QoS 2 messages than the CONNACK allowed (MQTT 5 section 3.3.4)
            raise codec.PacketError(f"over the receive maximum of {RECEIVE_MAXIMUM}", reason=0x93)
        message = new_message(topic, payload, qos, retain, props, session.client_id)
        if retain:
            self.retain(message)
        self.route(message)
        if qos == 1:
            conn.write(packets.encode_ack(packets.PUBACK, mid, conn.v5))
        elif qos == 2:
            session.qos2_in.add(mid)
            conn.write(packets.encode_ack(packets.PUBREC, mid, conn.v5))

    @staticmethod
    def _aliased(conn: Connection, alias: int, topic: str) -> str:
        """A client's topic alias [MQTT-3.3.2-12]: set with a topic, used without one."""
        if not 0 < alias <= TOPIC_ALIAS_MAX:
            # 0, or above the CONNACK's Topic Alias Maximum (MQTT 5 section 3.3.2.3.4)
            raise codec.PacketError(f"topic alias {alias} out of range", reason=0x94)
        if topic:
            conn.aliases[alias] = topic
            return topic
        if alias not in conn.aliases:
            raise codec.ProtocolError(f"unknown topic alias {alias}")
        return conn.aliases[alias]

    def acked(self, conn: Connection, mid: int, kind: int) -> None:
        session = conn.session
        assert session is not None
        out = session.inflight.get(mid)
        if out is None:
            return
        if kind == packets.PUBREC and out.qos == 2:
            out.released = True
            conn.write(packets.encode_ack(packets.PUBREL, mid, conn.v5))
            return
        del session.inflight[mid]
        self.pump(session)

    @staticmethod
    def released(conn: Connection, mid: int) -> None:
        assert conn.session is not None
        conn.session.qos2_in.discard(mid)
        conn.write(packets.encode_ack(packets.PUBCOMP, mid, conn.v5))

    def subscribe(self, conn: Connection, body: bytes) -> None:
        session = conn.session
        assert session is not None
        mid, props, filters = packets.decode_subscribe(body, conn.v5)
        sub_ids = props.get(codec.SUBSCRIPTION_ID) or [None]
        codes, new = [], []
        for topic_filter, options in filters:
            qos = options & 3
            if qos > 2 or topics.filter_problem(topic_filter) is not None:
                codes.append(0x8F if conn.v5 else 0x80)
                continue
            group, plain = topics.split_shared(topic_filter)
            existed = topic_filter in session.subscriptions
            sub = Subscription(plain, topics.levels(plain), qos, group=group, sub_id=sub_ids[0])
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
        conn.write(packets.encode_suback(mid, codes, conn.v5))
        self.send_retained(session, new)

    def unsubscribe(self, conn: Connection, body: bytes) -> None:
        session = conn.session
        assert session is not None
        mid, _props, filters = packets.decode_unsubscribe(body, conn.v5)
        for topic_filter, _ in filters:
            session.subscriptions.pop(topic_filter, None)
        conn.write(packets.encode_unsuback(mid, [0] * len(filters), conn.v5))

    def disconnect(self, conn: Connection, body: bytes) -> None:
        reason, props = packets.decode_disconnect(body, conn.v5)
        if codec.SESSION_EXPIRY in props and conn.session is not None:
            if conn.connect_expiry == 0 and props[codec.SESSION_EXPIRY] != 0:
                # a session that was to end with its connection cannot be kept [MQTT-3.14.2-2]
                raise codec.ProtocolError("DISCONNECT sets a session expiry after CONNECT set 0")
            conn.session.expiry = float(props[codec.SESSION_EXPIRY])
        # a normal DISCONNECT discards the will [MQTT-3.1.2-10]; 5.0 reason 0x04 keeps it
        conn.clean_disconnect = reason != 0x04
        conn.close()

    # -- connections ending, sessions ending -----------------------------------------------------

    def closed(self, conn: Connection) -> None:
        session = conn.session
        if session is None or session.connection is not conn:
            return
        session.connection = None
        conn.session = None
        self._lost(conn, session, taken_over=False)

    def _lost(self, conn: Link, session: Session, *, taken_over: bool) -> None:
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

    def _publish_will(self, will: Will) -> None:
        if will.message.retain:
            self.retain(will.message)
        self.route(will.message)

    def _end_session(self, session: Session) -> None:
        if self.sessions.get(session.client_id) is session:
            del self.sessions[session.client_id]
        if session.pending_will is not None:
            will, session.pending_will = session.pending_will, None
            self._publish_will(will)

    def sweep(self) -> None:
        """Connections without CONNECT or silent past their keepalive, will delays, session
        expiry: what time alone changes."""
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
                    "embedded broker: closing a connection silent past 1.5x its keepalive (%ds)",
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
