"""Where a message goes: matching subscriptions, shared groups, the retained store, and the
delivery to one session (in flight within its window, queued beyond it, kept while it is away)."""

from __future__ import annotations

import time
from typing import Any

from ...mqtt import codec, packets, topics
from ._state import Link, Message, Outgoing, Session, Subscription


def new_message(
    topic: str,
    payload: bytes,
    qos: int,
    retain: bool,
    props: dict[int, Any] | None,
    sender: str,
) -> Message:
    expires_at = None
    if props and codec.MESSAGE_EXPIRY in props:
        expires_at = time.monotonic() + props[codec.MESSAGE_EXPIRY]
    return Message(topic, payload, qos, retain, props or None, expires_at, sender)


class Router:
    """The sessions, what they subscribe to, and the retained messages; one event loop's, so no
    locks."""

    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}
        self.retained: dict[str, Message] = {}
        self.shared_turn: dict[tuple[str, str], int] = {}
        self.too_large = 0  # PUBLISH packets not sent: over the receiver's Maximum Packet Size

    def retain(self, message: Message) -> None:
        """Keep, replace or (empty payload [MQTT-3.3.1-10]) clear a topic's retained message."""
        if message.payload:
            self.retained[message.topic] = message
        else:
            self.retained.pop(message.topic, None)

    def send_retained(self, session: Session, subs: list[Subscription]) -> None:
        """The retained messages for new subscriptions, after their SUBACK [MQTT-3.3.1-6]."""
        for sub in subs:
            for topic, message in list(self.retained.items()):
                if topics.matches_levels(sub.parts, topic, topics.levels(topic)):
                    ids = [sub.sub_id] if sub.sub_id is not None else []
                    self.deliver(session, message, min(sub.qos, message.qos), True, ids)

    def route(self, message: Message) -> None:
        topic = message.topic
        parts = topics.levels(topic)
        shared: dict[tuple[str, str], list[tuple[Session, Subscription]]] = {}
        for session in list(self.sessions.values()):
            best: Subscription | None = None
            retain_flag, ids = False, []
            for sub in session.subscriptions.values():
                if not topics.matches_levels(sub.parts, topic, parts):
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
                self.deliver(
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
            self.deliver(session, message, min(sub.qos, message.qos), False, ids)

    def deliver(
        self, session: Session, message: Message, qos: int, retain: bool, ids: list[int]
    ) -> None:
        conn = session.connection
        if qos == 0:
            if conn is not None:
                self.send(conn, Outgoing(0, message, 0, retain, ids))
            return  # QoS 0 is not kept for an absent session
        if conn is not None and len(session.inflight) < conn.window and not session.queue:
            out = Outgoing(session.next_mid(), message, qos, retain, ids)
            session.inflight[out.mid] = out
            self.send(conn, out)
        else:
            session.queue.append((message, qos, retain, ids))

    def pump(self, session: Session) -> None:
        """Send what the session has queued, as far as its window allows."""
        conn = session.connection
        while conn is not None and session.queue and len(session.inflight) < conn.window:
            message, qos, retain, ids = session.queue.popleft()
            if message.expires_at is not None and message.expires_at <= time.monotonic():
                continue
            out = Outgoing(session.next_mid(), message, qos, retain, ids)
            session.inflight[out.mid] = out
            self.send(conn, out)

    def resend(self, conn: Link, session: Session) -> None:
        """What the session had in flight goes first, again, with DUP [MQTT-4.4.0-1]."""
        for out in list(session.inflight.values()):
            if out.released:
                conn.write(packets.encode_ack(packets.PUBREL, out.mid, conn.v5))
            else:
                self.send(conn, out, dup=True)
        self.pump(session)

    def send(self, conn: Link, out: Outgoing, dup: bool = False) -> None:
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
                props[codec.MESSAGE_EXPIRY] = max(1, int(left + 0.999))
            if out.sub_ids:
                props[codec.SUBSCRIPTION_ID] = list(out.sub_ids)
        data = packets.encode_publish(
            message.topic, message.payload, out.qos, out.retain, out.mid, dup, conn.v5, props
        )
        if len(data) > conn.max_packet:
            self.too_large += 1
            if out.qos and conn.session is not None:
                conn.session.inflight.pop(out.mid, None)
            return
        conn.write(data)
