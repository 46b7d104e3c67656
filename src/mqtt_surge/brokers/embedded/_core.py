"""The embedded broker's protocol after CONNECT: each packet a client sends, and what it
changes. The layers below: ``_sessions`` (CONNECT, how sessions end), ``_routing``."""

from __future__ import annotations

import asyncio

from ...mqtt import codec, packets, topics
from ...mqtt.publish import read_head
from ._connection import Connection
from ._routing import new_message
from ._sessions import Sessions
from ._state import Subscription


class Core(Sessions):
    """What each packet after CONNECT does; one event loop's, so no locks."""

    # -- packets from clients --------------------------------------------------------------------

    def handle(self, conn: Connection, first: int, body: bytes) -> None:
        self._handle(conn, first, body)
        if self.faults.disconnects and conn.client_id in self.faults.disconnects:
            self._count_down(conn)

    def _handle(self, conn: Connection, first: int, body: bytes) -> None:
        kind = first >> 4
        packets.check_flags(first)
        if not conn.connected:
            self.connect(conn, body)  # the connection let nothing else through
        elif conn.session is None:
            return  # taken over by a newer connection: it is closing
        elif kind == packets.PUBLISH:
            self.publish(conn, first, body)
        elif kind in (packets.PUBACK, packets.PUBREC, packets.PUBCOMP):
            self.acked(conn, packets.decode_ack(first, body, conn.v5))
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

    def publish(self, conn: Connection, first: int, body: bytes) -> None:
        session = conn.session
        assert session is not None
        head = None if conn.v5 else read_head(first, body)
        if head is None or "\x00" in head[0]:
            # MQTT 5 (properties), QoS 2, and whatever the receive path's reader leaves to the
            # general decoder, which refuses it as before
            topic, payload, qos, retain, _dup, mid, props = packets.decode_publish(
                first, body, conn.v5
            )
        else:
            topic, qos, retain, mid, start = head
            payload, props = body[start:], {}
        if qos > self.options.max_qos:
            # over the CONNACK's Maximum QoS (MQTT 5 section 3.2.2.3.4; mosquitto closes a 3.1.1
            # client's connection too)
            raise codec.PacketError(f"QoS {qos} over the maximum of {self.options.max_qos}", 0x9B)
        if retain and not self.options.retain_available:
            raise codec.PacketError("a retained message where Retain Available is 0", 0x9A)
        alias = props.pop(codec.TOPIC_ALIAS, None)
        if alias is not None:
            topic = self._aliased(conn, alias, topic)
        problem = topics.topic_problem(topic, self.max_topic_levels)
        if problem is not None:
            raise codec.PacketError(problem, reason=0x90)  # "topic name invalid"
        if qos == 2 and mid in session.qos2_in:
            # a resend: routed once already
            self._ack(conn, packets.PUBREC, mid, 0, topic)
            return
        if qos == 2 and conn.v5 and len(session.qos2_in) >= self.receive_maximum:
            # more unreleased QoS 2 messages than the CONNACK allowed (MQTT 5 section 3.3.4)
            raise codec.PacketError(
                f"over the receive maximum of {self.receive_maximum}", reason=0x93
            )
        if self.acl is not None and not self.may(session, topic, "write"):
            # dropped; MQTT 5 says why in the acknowledgement, "not authorized" (0x87), which
            # ends a QoS 2 flow at PUBREC (section 4.3.3); 3.1.1 acknowledges as usual
            if qos:
                kind = packets.PUBACK if qos == 1 else packets.PUBREC
                conn.write(packets.encode_ack(kind, mid, conn.v5, 0x87))
            return
        # conn.last_in: the broker's clock when this packet arrived
        message = new_message(topic, payload, qos, retain, props, session.client_id, conn.last_in)
        if qos == 2:
            # held until its PUBREL, then published, as mosquitto does (the specification
            # allows either): a sender that never releases it publishes nothing
            session.qos2_in[mid] = message
            reason = 0 if self.subscriptions.any_match(topic, topics.levels(topic)) else 0x10
            self._ack(conn, packets.PUBREC, mid, reason, topic)
            return
        # MQTT 5: 0x10, "no matching subscribers", where nobody got it (section 3.4.2.1)
        reason = 0 if self.publish_message(message) else 0x10
        if qos == 1:
            self._ack(conn, packets.PUBACK, mid, reason, topic)

    def _ack(self, conn: Connection, kind: int, mid: int, reason: int, topic: str) -> None:
        """A PUBACK or PUBREC, unless a fault withholds or delays it."""
        ack = packets.encode_ack(kind, mid, conn.v5, reason)
        rule = self.faults.take("withhold_acks", topic) or self.faults.take("delay_acks", topic)
        if rule is None:
            conn.write(ack)
            return
        self.packets.record_fault(self.now(), conn.client_id, rule.kind, topic)
        if rule.kind == "delay_acks":
            asyncio.get_running_loop().call_later(rule.delay, conn.write, ack)

    def _count_down(self, conn: Connection) -> None:
        left = self.faults.disconnects[conn.client_id] - 1
        if left > 0:
            self.faults.disconnects[conn.client_id] = left
            return
        del self.faults.disconnects[conn.client_id]
        self.packets.record_fault(self.now(), conn.client_id, "disconnect")
        conn.abort()

    def disconnect_after(self, client_id: str, after_packets: int) -> None:
        """The ``disconnect`` fault: at once, or after that many more packets from the client."""
        if after_packets:
            self.faults.disconnects[client_id] = after_packets
            return
        session = self.sessions.get(client_id)
        conn = session.connection if session is not None else None
        if conn is not None:
            self.packets.record_fault(self.now(), client_id, "disconnect")
            conn.abort()

    def drop_retained(self, topic: str) -> None:
        """The ``drop_retained`` fault."""
        self.packets.record_fault(self.now(), "", "drop_retained", topic)
        self.retained.set(new_message(topic, b"", 0, True, None, "", self.now()))

    def _aliased(self, conn: Connection, alias: int, topic: str) -> str:
        """A client's topic alias [MQTT-3.3.2-12]: set with a topic, used without one."""
        if not 0 < alias <= self.topic_alias_maximum:
            # 0, or above the CONNACK's Topic Alias Maximum (MQTT 5 section 3.3.2.3.4)
            raise codec.PacketError(f"topic alias {alias} out of range", reason=0x94)
        if topic:
            conn.aliases[alias] = topic
            return topic
        if alias not in conn.aliases:
            raise codec.ProtocolError(f"unknown topic alias {alias}")
        return conn.aliases[alias]

    def acked(self, conn: Connection, ack: packets.Ack) -> None:
        """PUBACK, PUBREC or PUBCOMP for a PUBLISH we sent: each only where its flow is
        (MQTT 5 section 4.3: PUBACK ends QoS 1; PUBREC then PUBCOMP end QoS 2)."""
        session = conn.session
        assert session is not None
        kind, mid = ack.kind, ack.mid
        out = session.inflight.get(mid)
        if out is None:
            return  # a late or repeated ack of a flow already ended
        expected = (
            packets.PUBACK if out.qos == 1 else packets.PUBCOMP if out.released else packets.PUBREC
        )
        if kind != expected:
            raise codec.ProtocolError(
                f"packet type {kind} for a QoS {out.qos} message awaiting type {expected}"
            )
        if kind == packets.PUBREC and ack.codes[0] < 0x80:
            out.released = True
            conn.write(packets.encode_ack(packets.PUBREL, mid, conn.v5))
            return
        # PUBACK, PUBCOMP, or a PUBREC that refused the message (MQTT 5 section 4.3.3: no
        # PUBREL then): the flow is over
        del session.inflight[mid]
        self.pump(session)

    def released(self, conn: Connection, mid: int) -> None:
        assert conn.session is not None
        message = conn.session.qos2_in.pop(mid, None)
        if message is not None:
            self.publish_message(message)
        conn.write(packets.encode_ack(packets.PUBCOMP, mid, conn.v5))

    def subscribe(self, conn: Connection, body: bytes) -> None:
        session = conn.session
        assert session is not None
        mid, props, filters = packets.decode_subscribe(body, conn.v5)
        sub_ids = props.get(codec.SUBSCRIPTION_ID) or [None]
        codes, new = [], []
        for topic_filter, options in filters:
            qos = min(options & 3, self.options.max_qos)  # granted at most the server's maximum
            problem = topics.filter_problem(topic_filter, self.max_topic_levels)
            if problem is not None:
                codes.append(0x8F if conn.v5 else 0x80)
                continue
            group, plain = topics.split_shared(topic_filter)
            refused = self._not_offered(group, plain)
            if refused is not None:
                codes.append(refused if conn.v5 else 0x80)
                continue
            existed = topic_filter in session.subscriptions
            sub = Subscription(plain, topics.levels(plain), qos, group=group, sub_id=sub_ids[0])
            if conn.v5:
                sub.no_local = bool(options & 0x04)
                sub.retain_as_published = bool(options & 0x08)
                sub.retain_handling = (options >> 4) & 3
            self.add_subscription(session, topic_filter, sub)
            codes.append(qos)
            if group is None and (
                sub.retain_handling == 0 or (sub.retain_handling == 1 and not existed)
            ):
                new.append(sub)
        conn.write(packets.encode_suback(mid, codes, conn.v5))
        self.send_retained(session, new)

    def _not_offered(self, group: str | None, plain: str) -> int | None:
        """The SUBACK reason for a filter of a kind the CONNACK said is not available."""
        if group is not None and not self.options.shared_subscriptions:
            return 0x9E  # shared subscriptions not supported
        if not self.options.wildcard_subscriptions and ("+" in plain or "#" in plain):
            return 0xA2  # wildcard subscriptions not supported
        return None

    def unsubscribe(self, conn: Connection, body: bytes) -> None:
        session = conn.session
        assert session is not None
        mid, _props, filters = packets.decode_unsubscribe(body, conn.v5)
        # MQTT 5: 0x11, "no subscription existed", per filter (section 3.11.3)
        codes = [0 if self.remove_subscription(session, f) else 0x11 for f, _ in filters]
        conn.write(packets.encode_unsuback(mid, codes, conn.v5))

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
