"""Sessions: CONNECT (the session it starts, resumes or takes over), and how they end: a
connection lost, a will published or delayed, a session expired; what time alone changes."""

from __future__ import annotations

import asyncio
import hmac
import itertools
from typing import Any

from ...mqtt import codec, packets, topics
from .._base import logger
from .._options import BrokerOptions
from ._clock import Clock
from ._connection import Connection
from ._faults import CONNACK_3_1_1
from ._inspect import PacketLog
from ._routing import Router, new_message
from ._state import (
    NEVER,
    RECEIVE_MAXIMUM,
    TOPIC_ALIAS_MAX,
    ClientInfo,
    Link,
    Session,
    Will,
)

# a packet larger than this is refused on its fixed header, before its body is read: a test
# broker lives in the test's process, and one client must not make it hold hundreds of MB
DEFAULT_MAX_PACKET_SIZE = 64 * 1024 * 1024
# a connection that has not completed its CONNECT by then is closed (mosquitto 2.0 waits 90 s,
# its default keepalive x 1.5; a test broker is told of a stuck client sooner)
DEFAULT_CONNECT_TIMEOUT = 10.0
# QoS 1/2 messages held for one client beyond its in-flight window, while it is away or not
# reading; then new ones are dropped and counted. mosquitto's default count is 1,000; ours is
# larger because a test broker often feeds one slow subscriber a burst, and the bytes bound
# what the count cannot (a few large messages)
# topic names and filters deeper than this are refused: the specification sets no limit, but
# every level costs the broker a step of each match, and no application needs thousands (128 is
# EMQX's default; mosquitto has none)
DEFAULT_MAX_TOPIC_LEVELS = 128
DEFAULT_MAX_QUEUED_MESSAGES = 10_000
DEFAULT_MAX_QUEUED_BYTES = 64 * 1024 * 1024


class Sessions(Router):
    """The sessions, from CONNECT to their end."""

    def __init__(
        self,
        options: BrokerOptions | None = None,
        logins: dict[str, str] | None = None,
        *,
        allow_anonymous: bool = True,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        max_queued_bytes: int = DEFAULT_MAX_QUEUED_BYTES,
        max_topic_levels: int = DEFAULT_MAX_TOPIC_LEVELS,
        clock: Clock | None = None,
        packets: PacketLog | None = None,
    ) -> None:
        options = options or BrokerOptions()
        queued = options.max_queued_messages or DEFAULT_MAX_QUEUED_MESSAGES
        super().__init__(queued, max_queued_bytes, options.acl, clock, packets)
        self.options = options
        self.max_topic_levels = max_topic_levels
        self.logins = {
            name.encode(): password.encode() for name, password in (logins or {}).items()
        }
        self.allow_anonymous = allow_anonymous
        self.max_packet_size = options.max_packet_size or DEFAULT_MAX_PACKET_SIZE
        self.receive_maximum = options.receive_maximum or RECEIVE_MAXIMUM
        self.topic_alias_maximum = (
            TOPIC_ALIAS_MAX if options.topic_alias_maximum is None else options.topic_alias_maximum
        )
        self.connect_timeout = connect_timeout
        self.connections: set[Connection] = set()
        self._ids = itertools.count(1)
        self._gone: dict[str, list[asyncio.Future[None]]] = {}  # client id -> who waits

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
        if self.faults.refuse_connect is not None:
            code, self.faults.refuse_connect = self.faults.refuse_connect, None
            self.packets.record_fault(self.now(), client_id, "refuse_next_connect")
            conn.write(
                packets.encode_connack(False, code if v5 else CONNACK_3_1_1.get(code, 3), v5, {})
            )
            conn.close()
            return
        conn.keepalive = packet.keepalive
        # one window each way, as mosquitto's max_inflight_messages is (20 unless told)
        conn.window = self.receive_maximum
        for flag in (codec.REQUEST_PROBLEM_INFO, codec.REQUEST_RESPONSE_INFO):
            if props.get(flag, 0) not in (0, 1):
                raise codec.ProtocolError(f"property {flag:#x} is {props[flag]}, not 0 or 1")
        for limit in (codec.RECEIVE_MAXIMUM, codec.MAXIMUM_PACKET_SIZE):
            if props.get(limit) == 0:
                raise codec.ProtocolError(f"property {limit:#x} is 0")
        will = None
        if packet.will is not None:
            topic, payload, qos, retain, _, _, will_props = packet.will
            # a will is a PUBLISH to come: held to the same rules now, before any state changes
            # (3.1.1 [MQTT-3.1.3-10] and MQTT 5 [MQTT-3.1.3-11]: a valid topic name without
            # wildcards [MQTT-3.3.2-2]; the codec took only will properties, section 3.1.3.2)
            problem = topics.topic_problem(topic, self.max_topic_levels)
            if problem is not None:
                raise codec.MalformedPacket(f"will: {problem}")
            delay = float(will_props.pop(codec.WILL_DELAY, 0))
            message = new_message(topic, payload, qos, retain, will_props, client_id, self.now())
            will = Will(message, delay)
            # a will the server could not publish is refused with CONNECT (MQTT 5 section
            # 3.2.2.3: 0x9A, 0x9B); mosquitto closes a 3.1.1 client without a CONNACK then
            refused = 0x9A if retain and not self.options.retain_available else None
            if qos > self.options.max_qos:
                refused = 0x9B
            if refused is not None:
                if v5:
                    conn.write(packets.encode_connack(False, refused, True, {}))
                conn.close()
                return
        username, password = packet.username, packet.password
        if self.options.use_identity_as_username:
            # the certificate's common name is the login; what CONNECT says is not asked
            username, password = conn.certificate_name(), None
            admitted = username is not None
        else:
            admitted = self._admitted(username, password)
        if not admitted:
            # "not authorized", as mosquitto answers a wrong password and a refused anonymous
            # client alike (it does not tell which user names exist)
            conn.write(packets.encode_connack(False, 0x87 if v5 else 0x05, v5, {}))
            conn.close()
            return
        connack_props: dict[int, Any] = {}
        if codec.AUTHENTICATION_METHOD in props:
            # extended authentication is not offered: "bad authentication method" (section 4.12)
            conn.write(packets.encode_connack(False, 0x8C, True, {}))
            conn.close()
            return
        if not client_id:
            # 3.1.1 with a persistent session [MQTT-3.1.3-8], and MQTT 3.1, whose client ids
            # are 1 to 23 characters: "identifier rejected"
            if (not clean and not v5) or packet.level == 3:
                conn.write(packets.encode_connack(False, 0x02, False, {}))
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
        if session is not None:
            # a new connection to the session before its will's delay passed: no will
            # [MQTT-3.1.3-9], whether it resumes the session or starts clean
            session.pending_will, session.will_due = None, None
        if clean and session is not None:
            self._end_session(session)
            session = None
        present = session is not None
        if session is None:
            session = self.sessions[client_id] = Session(client_id)
        if v5:
            asked = int(props.get(codec.SESSION_EXPIRY, 0))
            most = self.options.max_session_expiry
            if most is not None and asked > most:
                # the server's value replaces the client's, and the CONNACK says so (MQTT 5
                # section 3.2.2.3.2)
                asked = most
                connack_props[codec.SESSION_EXPIRY] = most
            session.expiry = NEVER if asked == 0xFFFFFFFF else float(asked)
            conn.window = min(conn.window, int(props.get(codec.RECEIVE_MAXIMUM, 65535)))
            if self.options.outgoing_topic_aliases:
                conn.alias_out_max = int(props.get(codec.TOPIC_ALIAS_MAXIMUM, 0))
            server_keepalive = self.options.server_keepalive
            if server_keepalive is not None and (
                conn.keepalive == 0 or conn.keepalive > server_keepalive
            ):
                # the client must use the server's keepalive [MQTT-3.1.2-21]
                conn.keepalive = server_keepalive
                connack_props[codec.SERVER_KEEP_ALIVE] = server_keepalive
        else:
            session.expiry = 0.0 if clean else NEVER
        session.connection, session.ended_at = conn, None
        session.pending_will, session.will_due = None, None  # a reconnect in time: no will
        conn.session, conn.will = session, will
        conn.client_id, conn.connected = client_id, True
        conn.connect_packet = packet
        conn.username = session.username = username
        conn.connect_expiry = session.expiry
        if v5:
            conn.max_packet = int(props.get(codec.MAXIMUM_PACKET_SIZE, codec.MAX_PACKET_SIZE))
            connack_props.update(self._announced())
        connack = packets.encode_connack(present, 0, v5, connack_props)
        if len(connack) > conn.max_packet:
            # a CONNACK the client could not take cannot be sent: the connection ends without
            # it, and without its will, as for any CONNECT refused [MQTT-3.1.2-24]
            conn.will, conn.connected = None, False
            raise codec.ProtocolError(f"CONNACK of {len(connack)} bytes, over the client's maximum")
        conn.write(connack)
        self.resend(conn, session)

    def _admitted(self, username: str | None, password: bytes | None) -> bool:
        """mosquitto's rules: no user name gets in where anonymous clients may; a user name
        gets in where no logins are set, else only with its password."""
        if username is None:
            return self.allow_anonymous
        if not self.logins:
            return True
        expected = self.logins.get(username.encode())
        # compare_digest on the password only: which user names exist is not a secret here
        return expected is not None and hmac.compare_digest(password or b"", expected)

    def _announced(self) -> dict[int, Any]:
        """What an MQTT 5 CONNACK says of this server (section 3.2.2.3): its limits, and what
        it does not offer (a property left out means the specification's default)."""
        options = self.options
        props: dict[int, Any] = {codec.RECEIVE_MAXIMUM: self.receive_maximum}
        if self.topic_alias_maximum:
            props[codec.TOPIC_ALIAS_MAXIMUM] = self.topic_alias_maximum
        props[codec.SHARED_SUB_AVAILABLE] = int(options.shared_subscriptions)
        if not options.wildcard_subscriptions:
            props[codec.WILDCARD_SUB_AVAILABLE] = 0
        if not options.retain_available:
            props[codec.RETAIN_AVAILABLE] = 0
        if options.max_qos < 2:
            props[codec.MAXIMUM_QOS] = options.max_qos
        if self.max_packet_size < codec.MAX_PACKET_SIZE:
            props[codec.MAXIMUM_PACKET_SIZE] = self.max_packet_size
        return props

    def clients(self) -> list[ClientInfo]:
        return [
            ClientInfo(
                client_id=c.client_id,
                protocol=c.connect_packet.level,
                keepalive=c.connect_packet.keepalive,
                clean_start=c.connect_packet.clean,
                session_expiry=c.session.expiry if c.session is not None else 0.0,
                username=c.username,
                will=c.connect_packet.will,
                connect=c.connect_packet,
            )
            for c in self.connections
            if c.connected and c.connect_packet is not None
        ]

    def resumed(self, conn: Connection) -> None:
        if conn.session is not None:
            self.pump(conn.session)

    def closed(self, conn: Connection) -> None:
        session = conn.session
        if session is not None and session.connection is conn:
            session.connection = None
            conn.session = None
            self._lost(conn, session, taken_over=False)
        for waiter in self._gone.pop(conn.client_id, ()):
            if not waiter.done():
                waiter.set_result(None)

    def gone(self, client_id: str) -> asyncio.Future[None]:
        """Done once no connection of ``client_id`` is open (at once if none is)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if any(c.client_id == client_id for c in self.connections):
            self._gone.setdefault(client_id, []).append(waiter)
        else:
            waiter.set_result(None)
        return waiter

    def _lost(self, conn: Link, session: Session, *, taken_over: bool) -> None:
        now = self.now()
        session.ended_at = now
        will = None if conn.clean_disconnect else conn.will
        conn.will = None
        if will is not None and taken_over and will.delay:
            will = None  # the session goes on, under the new connection [MQTT-3.1.3-9]
        if will is not None:
            if will.delay and session.expiry and not taken_over:
                session.pending_will = will
                session.will_due = now + min(will.delay, session.expiry)
            else:
                self._publish_will(session, will)
        if session.expiry == 0 and not taken_over:
            self._end_session(session)

    def _end_session(self, session: Session) -> None:
        if self.sessions.get(session.client_id) is session:
            del self.sessions[session.client_id]
            self.forget(session)
        if session.pending_will is not None:
            will, session.pending_will = session.pending_will, None
            self._publish_will(session, will)

    def _publish_will(self, session: Session, will: Will) -> None:
        # held to the ACL when it is published, as mosquitto does: a client cannot leave a
        # will where it could not publish
        if self.may(session, will.message.topic, "write"):
            self.publish_message(will.message)

    def sweep(self) -> None:
        """Connections without CONNECT or silent past their keepalive, will delays, session
        expiry: what time alone changes."""
        now = self.now()
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
                    self._publish_will(session, will)
            if (
                session.connection is None
                and session.ended_at is not None
                and now - session.ended_at >= session.expiry
            ):
                self._end_session(session)
