"""What the subscriber needs from an MQTT client library, and what every engine shares.

A transport owns the network side: it connects (and reconnects, with back-off), subscribes on every
connect, turns each received PUBLISH into an :class:`Item` for the buffer and sends the
acknowledgements that workers ask for. Everything behind the buffer (dispatch, stats, warnings,
stop) is the pipeline's and is the same for every engine.

Nothing here imports a client library: the engine room and the subscriber import this module, and
only the engine modules beside it (``paho``, ``gmqtt``, ``fake``) import one.
"""

from __future__ import annotations

import dataclasses
import functools
import ssl
import time
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from ...mqtt import reasons
from ...mqtt.publish import read_head
from ...runtime.errors import ConnectError, refusal
from ...runtime.url import BrokerURL


class Item(NamedTuple):
    """What the network thread puts in the buffer for one message.

    The first seven fields are a :class:`~mqtt_surge.Message`'s, in its order (a worker builds the
    Message from them); then the connection generation it arrived on (acks of an earlier one are
    stale) and whatever the engine needs to acknowledge it later (gmqtt: the packet id, or a
    future for a message gmqtt read itself; paho: nothing, it acks by ``mid``).
    A named tuple built with :data:`new_item`: as cheap as a plain tuple on the scarce network
    thread, and read by name everywhere.
    """

    topic: str
    payload: bytes
    qos: int
    retain: bool
    mid: int
    properties: Any
    received_at: float
    generation: int
    ack_token: Any = None


# an Item from its fields in order, no checks (the network thread's path): tuple.__new__ is as
# cheap as a tuple display, where the named tuple's own constructor costs a Python call
new_item: Callable[[tuple[Any, ...]], Item] = functools.partial(tuple.__new__, Item)

# a client library's MQTT 5 property parser for the receive path: (properties, payload) from
# what follows a PUBLISH's head, or None to leave that packet to the library
PropertyParser = Callable[[bytes], "tuple[Any, bytes] | None"]


def publish_item(
    cmd: int,
    raw: bytes | bytearray,
    parse_properties: PropertyParser | None,
    generation: int,
    ack_token_is_mid: bool,
) -> Item | None:
    """The receive path of both engines: a PUBLISH of QoS 0 or 1, read by the MQTT core, as an
    Item; None leaves the packet to the engine's library (QoS 2, an alias, anything unusual).
    The engine enqueues it and, unless acks wait for processing, sends the PUBACK."""
    head = read_head(cmd, raw)
    if head is None:
        return None
    topic, qos, retain, mid, start = head
    payload = bytes(raw[start:])
    properties = None
    if parse_properties is not None:
        parsed = parse_properties(payload)
        if parsed is None:
            return None
        properties, payload = parsed
    token = mid if ack_token_is_mid and qos else None
    return new_item((topic, payload, qos, retain, mid, properties, time.time(), generation, token))


@dataclasses.dataclass(frozen=True)
class Settings:
    """How to connect and what to subscribe to; the same for every engine."""

    url: BrokerURL
    client_id: str
    topics: list[tuple[str, int]]
    protocol: int  # 4 (3.1.1) or 5
    clean_session: bool | None
    session_expiry: int | None
    keepalive: int
    manual_ack: bool  # ack='after_processing': PUBACK only when a worker says so
    tls: bool | ssl.SSLContext | None

    def ssl_context(self) -> ssl.SSLContext | None:
        return ssl_context(self.tls, self.url)


def ssl_context(tls: bool | ssl.SSLContext | None, url: BrokerURL) -> ssl.SSLContext | None:
    """The TLS context to connect with: the one given, a default one for ``tls=True`` or an
    ``mqtts://`` URL (unless ``tls=False``), else None (plain TCP)."""
    if isinstance(tls, ssl.SSLContext):
        return tls
    if tls or (tls is None and url.tls):
        return ssl.create_default_context()
    return None


@dataclasses.dataclass(frozen=True)
class Events:
    """What a transport reports to the subscriber, from its network thread.

    ``enqueue`` is called once per message and is the hot path; the rest are rare.
    """

    enqueue: Callable[[Item], None]
    connected: Callable[[], None]
    refused: Callable[[ConnectError], None]
    unreachable: Callable[[BaseException | None], None]  # why, when the engine tells
    subscribed: Callable[[list[str]], None]  # the filters the broker rejected, with their codes
    disconnected: Callable[[object], None]


class Transport(Protocol):
    generation: int  # bumped on every connect: acks for items of an earlier one are stale
    silence_limit: float  # seconds without a packet from the broker before the link is dead

    def start(self) -> None:
        """Connect in the background; reconnect until :meth:`close`."""

    def ack(self, item: Item) -> None:
        """Acknowledge ``item`` (thread-safe); an item from an earlier connection is skipped."""

    def unsubscribe(self, timeout: float) -> bool:
        """Unsubscribe every filter and wait for UNSUBACK; True if it came in time."""

    def is_connected(self) -> bool: ...

    def silent_for(self) -> float | None:
        """Seconds since the broker's last packet on this connection (None: not connected)."""

    def drop(self) -> None:
        """End the current connection at once, as a network failure would, so that the transport
        reconnects (thread-safe)."""

    def on_network_thread(self) -> bool:
        """Whether the calling thread is this transport's network thread."""

    def close(self) -> None:
        """Disconnect and release threads and sockets (not waiting for itself on its thread)."""


def silence_limit(keepalive: int, check_lag: float = 0.0) -> float:
    """1.5x the keepalive, MQTT's rule for the server ([MQTT-3.1.2-24]), or more when the engine's
    own ping can leave up to ``check_lag`` s late (a healthy idle link must never reach it)."""
    if not keepalive:
        return float("inf")
    return max(1.5 * keepalive, keepalive + 2 * check_lag)


def connect_error(code: int, text: str, url: BrokerURL) -> ConnectError:
    """:func:`refusal` for a subscriber's CONNECT, which may have asked for MQTT 5."""
    if code in reasons.BAD_PROTOCOL:
        text += (
            " (this broker does not speak the MQTT version asked for: use protocol=4, or a "
            "broker that speaks MQTT 5: --mqtt-broker=embedded or --mqtt-broker=mosquitto)"
        )
    return refusal(code, url.redacted, text)
