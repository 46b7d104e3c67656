"""What the embedded broker keeps: messages, subscriptions, sessions and what is in flight."""

from __future__ import annotations

import collections
import itertools
from dataclasses import dataclass, field
from typing import Any, Protocol

INFLIGHT_WINDOW = 20  # QoS 1/2 messages sent and not yet acknowledged, per client (mosquitto's)
RECEIVE_MAXIMUM = 20  # QoS 2 messages from one client awaiting PUBREL (announced, as mosquitto)
TOPIC_ALIAS_MAX = 10
NEVER = float("inf")


@dataclass
class Message:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    props: dict[int, Any] | None
    expires_at: float | None
    sender: str


@dataclass
class Subscription:
    filter: str
    parts: list[str]
    qos: int
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: int = 0
    sub_id: int | None = None
    group: str | None = None  # shared subscriptions: $share/<group>/<filter>


@dataclass
class Outgoing:
    mid: int
    message: Message
    qos: int
    retain: bool
    sub_ids: list[int]
    released: bool = False  # QoS 2: PUBREC came, PUBREL sent, waiting for PUBCOMP


@dataclass(frozen=True)
class ClientInfo:
    """A connected client, as its CONNECT introduced it (``broker.clients``)."""

    client_id: str
    protocol: int  # 4: MQTT 3.1.1, 5: MQTT 5.0
    keepalive: int  # as asked (a Server Keep Alive may have replaced it)
    clean_start: bool
    session_expiry: float  # seconds (inf: until a clean start)
    username: str | None
    will: Any  # the CONNECT's will (topic, payload, qos, retain, ..., properties), or None
    connect: Any  # the whole decoded CONNECT (mqtt_surge.mqtt.Connect)


@dataclass
class Will:
    message: Message
    delay: float


class Link(Protocol):
    """A client's connection, as sessions and delivery see it."""

    v5: bool
    client_id: str
    paused: bool  # its socket is not being drained (asyncio's flow control)
    window: int  # QoS 1/2 messages it may have unacknowledged
    max_packet: int  # the largest packet it accepts
    alias_out_max: int  # topic aliases we may set on what we send it (outgoing_topic_aliases)
    aliases_out: dict[str, int]
    session: Session | None
    will: Will | None
    clean_disconnect: bool

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


@dataclass
class Session:
    client_id: str
    username: str | None = None  # its connection's login, for the ACL
    expiry: float = 0.0  # seconds the session outlives its connection (inf: until clean start)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    inflight: dict[int, Outgoing] = field(default_factory=dict)
    queue: collections.deque[tuple[Message, int, bool, list[int]]] = field(
        default_factory=collections.deque
    )
    queued_bytes: int = 0  # topic and payload bytes in ``queue``
    dropped: int = 0  # messages dropped because the client did not keep up
    qos2_in: dict[int, Message] = field(default_factory=dict)  # QoS 2 received, awaiting PUBREL
    connection: Link | None = None
    ended_at: float | None = None
    will_due: float | None = None
    pending_will: Will | None = None
    _mids: itertools.cycle[int] = field(default_factory=lambda: itertools.cycle(range(1, 65536)))

    def next_mid(self) -> int:
        for mid in self._mids:
            if mid not in self.inflight:
                return mid
        raise AssertionError("unreachable")
