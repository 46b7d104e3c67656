"""Where a message goes: matching subscriptions, shared groups, the retained store, and the
delivery to one session: in flight within its window, queued beyond it or while the client is
away or not reading (up to ``max_queued_messages`` and ``max_queued_bytes``, then dropped and
counted), QoS 0 dropped and counted for a client that is not reading."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from ...mqtt import codec, packets, topics
from .._acl import Access, Acl
from ._clock import Clock
from ._faults import FaultRules
from ._inspect import PacketLog
from ._state import Link, Message, Outgoing, Session, Subscription
from ._trees import Retained, Subscriptions


def new_message(
    topic: str,
    payload: bytes,
    qos: int,
    retain: bool,
    props: dict[int, Any] | None,
    sender: str,
    now: float,
) -> Message:
    expires_at = None
    if props and codec.MESSAGE_EXPIRY in props:
        expires_at = now + props[codec.MESSAGE_EXPIRY]
    return Message(topic, payload, qos, retain, props or None, expires_at, sender)


RETAINED_SLICE = 500  # retained messages sent per turn of the loop: other clients go between
ROUTES = 4096  # topics whose routes are kept (a bound: a client may publish to any number)
# (client id, QoS, retain-as-published, subscription ids) per target; the shared groups
Route = tuple[
    list[tuple[str, int, bool, list[int]]], list[tuple[Any, str, dict[str, Subscription]]]
]


class Router:
    """The sessions, what they subscribe to, and the retained messages; one event loop's, so no
    locks."""

    def __init__(
        self,
        max_queued_messages: int,
        max_queued_bytes: int,
        acl: Acl | None = None,
        clock: Clock | None = None,
        packets: PacketLog | None = None,
    ) -> None:
        self.acl = acl
        self.clock = clock or Clock()
        self.now = self.clock.now
        self.packets = packets if packets is not None else PacketLog()
        self.faults = FaultRules()
        self.sessions: dict[str, Session] = {}
        self.subscriptions = Subscriptions()
        self.retained = Retained()
        self.max_queued_messages = max_queued_messages
        self.max_queued_bytes = max_queued_bytes
        # topic -> who gets its messages, while the subscriptions stay as they were
        self._routes: dict[str, Route] = {}
        self._routes_version = -1
        self.too_large = 0  # PUBLISH packets not sent: over the receiver's Maximum Packet Size
        self.dropped = 0  # messages dropped for clients that did not keep up, all of them

    def may(self, session: Session, topic: str, access: Access) -> bool:
        """Whether the ACL lets this session's client read or write ``topic`` (no ACL: yes)."""
        acl = self.acl
        return acl is None or acl.allows(session.username, session.client_id, topic, access)

    def retain(self, message: Message) -> None:
        self.retained.set(message)

    def publish_message(self, message: Message) -> int:
        """Retain it if it asks to be, then route it; how many sessions it went to."""
        if message.retain:
            self.retain(message)
        return self.route(message)

    # -- subscriptions ----------------------------------------------------------------------------

    def add_subscription(self, session: Session, topic_filter: str, sub: Subscription) -> None:
        session.subscriptions[topic_filter] = sub
        self.subscriptions.add(session.client_id, sub)

    def remove_subscription(self, session: Session, topic_filter: str) -> bool:
        sub = session.subscriptions.pop(topic_filter, None)
        if sub is None:
            return False
        self.subscriptions.remove(session.client_id, sub)
        return True

    def forget(self, session: Session) -> None:
        """A session that ended: its subscriptions go with it."""
        for topic_filter in list(session.subscriptions):
            self.remove_subscription(session, topic_filter)

    def send_retained(self, session: Session, subs: list[Subscription]) -> None:
        """The retained messages for new subscriptions, after their SUBACK [MQTT-3.3.1-6], a
        slice per turn of the event loop, so that a SUBSCRIBE over many holds nobody up."""
        work = ((sub, m) for sub in subs for m in self.retained.matching(sub.parts))
        self._retained_slice(session, work)

    def _retained_slice(
        self, session: Session, work: Iterator[tuple[Subscription, Message]]
    ) -> None:
        if self.sessions.get(session.client_id) is not session:
            return  # the session ended meanwhile
        for sent, (sub, message) in enumerate(work, 1):
            ids = [sub.sub_id] if sub.sub_id is not None else []
            self.deliver(session, message, min(sub.qos, message.qos), True, ids)
            if sent == RETAINED_SLICE:
                asyncio.get_running_loop().call_soon(self._retained_slice, session, work)
                return

    # -- routing ----------------------------------------------------------------------------------

    def route(self, message: Message) -> int:
        """Deliver ``message`` to every session whose subscription matches; how many there were."""
        topic = message.topic
        route = self._routes.get(topic)
        if route is None or self._routes_version != self.subscriptions.version:
            route = self._match(topic, message.sender)
        targets, shared = route
        twice = self.faults.take("deliver_twice", topic) if targets else None
        if twice is not None:
            self.packets.record_fault(self.now(), message.sender, "deliver_twice", topic)
        sessions, deliver = self.sessions, self.deliver
        for client_id, best_qos, retain_flag, ids in targets:
            session = sessions.get(client_id)
            if session is not None:
                # RETAIN is 0 on forwarding, unless retain-as-published [MQTT-3.3.1-9]/[-12]
                qos = min(best_qos, message.qos)
                retain = message.retain and retain_flag
                deliver(session, message, qos, retain, ids)
                if twice:
                    deliver(session, message, qos, retain, ids)
        for node, group, members in shared:
            # one member of the group gets it: take turns, preferring connected ones
            everyone = [(self.sessions[c], s) for c, s in members.items() if c in self.sessions]
            connected = [m for m in everyone if m[0].connection is not None] or everyone
            if not connected:
                continue
            turn = node.turns.get(group, 0)
            node.turns[group] = turn + 1
            session, sub = connected[turn % len(connected)]
            ids = [sub.sub_id] if sub.sub_id is not None else []
            deliver(session, message, min(sub.qos, message.qos), False, ids)
        return len(targets) + len(shared)

    def _match(self, topic: str, sender: str) -> Route:
        """Who gets a message on ``topic`` from ``sender``: per client, the highest QoS of its
        matching subscriptions, whether one is retain-as-published, and their identifiers
        [MQTT-3.3.4-2]/[MQTT-3.3.4-3]; then the shared groups. Kept for the next message on
        the topic until a subscription changes, unless a No Local one makes it the sender's."""
        found: dict[str, tuple[int, bool, list[int]]] = {}
        shared: list[tuple[Any, str, dict[str, Subscription]]] = []
        own = False  # a No Local subscription matched: the route depends on the sender
        for node in self.subscriptions.matching(topic, topics.levels(topic)):
            for client_id, sub in node.subs.items():
                if sub.no_local:
                    own = True
                    if client_id == sender:
                        continue
                qos, retain_flag, ids = found.get(client_id, (0, False, []))
                if sub.sub_id is not None:
                    ids.append(sub.sub_id)
                found[client_id] = (
                    max(qos, sub.qos),
                    retain_flag or sub.retain_as_published,
                    ids,
                )
            for group, members in node.shared.items():
                shared.append((node, group, members))
        route = ([(c, q, r, ids) for c, (q, r, ids) in found.items()], shared)
        if not own:
            if self._routes_version != self.subscriptions.version or len(self._routes) >= ROUTES:
                self._routes.clear()  # stale, or as many topics as it keeps: start again
                self._routes_version = self.subscriptions.version
            self._routes[topic] = route
        return route

    # -- delivery to one session ------------------------------------------------------------------

    def deliver(
        self, session: Session, message: Message, qos: int, retain: bool, ids: list[int]
    ) -> None:
        if self.acl is not None and not self.may(session, message.topic, "read"):
            # mosquitto grants the SUBSCRIBE and checks each message on its way out
            return
        conn = session.connection
        if qos == 0:
            # QoS 0 is not kept for an absent session, nor for one whose socket is not drained
            if conn is not None and not conn.paused:
                if self._needs_properties(conn, message, ids):
                    self.send(conn, Outgoing(0, message, 0, retain, ids))
                else:  # no Outgoing record for what is neither kept nor acknowledged
                    self._put(conn, self._framed(message, 0, retain, 0, conn.v5))
            elif conn is not None:
                self._drop(session)
            return
        if (
            conn is not None
            and not conn.paused
            and len(session.inflight) < conn.window
            and not session.queue
        ):
            out = Outgoing(session.next_mid(), message, qos, retain, ids)
            session.inflight[out.mid] = out
            self.send(conn, out)
            return
        size = len(message.payload) + len(message.topic)
        if (
            len(session.queue) >= self.max_queued_messages
            or session.queued_bytes + size > self.max_queued_bytes
        ):
            self._drop(session)
            return
        session.queue.append((message, qos, retain, ids))
        session.queued_bytes += size

    def _drop(self, session: Session) -> None:
        session.dropped += 1
        self.dropped += 1

    def pump(self, session: Session) -> None:
        """Send what the session has queued, as far as its window and its socket allow."""
        conn = session.connection
        while (
            conn is not None
            and not conn.paused
            and session.queue
            and len(session.inflight) < conn.window
        ):
            message, qos, retain, ids = session.queue.popleft()
            session.queued_bytes -= len(message.payload) + len(message.topic)
            if message.expires_at is not None and message.expires_at <= self.now():
                continue
            out = Outgoing(session.next_mid(), message, qos, retain, ids)
            session.inflight[out.mid] = out
            self.send(conn, out)

    @staticmethod
    def _alias_out(conn: Link, topic: str, props: dict[int, Any]) -> str:
        """``outgoing_topic_aliases``: a topic sent before goes as its alias alone; a new one
        gets the next alias while the client's Topic Alias Maximum allows [MQTT-3.3.2-9]."""
        alias = conn.aliases_out.get(topic)
        if alias is not None:
            props[codec.TOPIC_ALIAS] = alias
            return ""
        if len(conn.aliases_out) < conn.alias_out_max:
            alias = conn.aliases_out[topic] = len(conn.aliases_out) + 1
            props[codec.TOPIC_ALIAS] = alias
        return topic

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
        if not dup and not self._needs_properties(conn, message, out.sub_ids):
            data = self._framed(message, out.qos, out.retain, out.mid, conn.v5)
            self._write(conn, out, data)
            return
        props = None
        if conn.v5:
            props = dict(message.props) if message.props else {}
            if message.expires_at is not None:
                left = message.expires_at - self.now()
                if left <= 0 and not dup:
                    if out.qos and conn.session is not None:
                        conn.session.inflight.pop(out.mid, None)
                    return  # expired: not delivered [MQTT-3.3.2-5]
                props[codec.MESSAGE_EXPIRY] = max(1, int(left + 0.999))
            if out.sub_ids:
                props[codec.SUBSCRIPTION_ID] = list(out.sub_ids)
        topic = message.topic
        fresh = conn.alias_out_max > 0 and topic not in conn.aliases_out
        if conn.alias_out_max and props is not None:
            topic = self._alias_out(conn, topic, props)
        data = packets.encode_publish(
            topic, message.payload, out.qos, out.retain, out.mid, dup, conn.v5, props
        )
        if len(data) > conn.max_packet and fresh:  # never sent: the client does not know it
            conn.aliases_out.pop(message.topic, None)
        self._write(conn, out, data, dup)

    @staticmethod
    def _needs_properties(conn: Link, message: Message, ids: list[int]) -> bool:
        """Whether a delivery carries MQTT 5 properties: expiry, subscription ids, an alias, or
        the publisher's own (a 3.1.1 client gets none)."""
        return conn.v5 and bool(
            message.props or message.expires_at is not None or ids or conn.alias_out_max
        )

    @staticmethod
    def _framed(message: Message, qos: int, retain: bool, mid: int, v5: bool) -> bytes:
        """A PUBLISH with no properties, from the core's prefix for its topic and size: no
        general encoder call per delivery."""
        prefix = packets.publish_prefix(message.topic, qos, len(message.payload), v5, retain)
        return packets.frame_publish(prefix, qos, mid, message.payload, v5)

    def _put(self, conn: Link, data: bytes) -> bool:
        """Write one PUBLISH unless it is over the client's Maximum Packet Size (then counted,
        and dropped as if delivered)."""
        if len(data) > conn.max_packet:
            self.too_large += 1
            return False
        conn.write(data)
        return True

    def _write(self, conn: Link, out: Outgoing, data: bytes, dup: bool = False) -> None:
        message = out.message
        if not self._put(conn, data):
            if out.qos and conn.session is not None:
                conn.session.inflight.pop(out.mid, None)
            return
        if out.qos and not dup and self.faults.take("redeliver_with_dup", message.topic):
            self.packets.record_fault(
                self.now(), conn.client_id, "redeliver_with_dup", message.topic
            )
            self.send(conn, out, dup=True)
