"""What the subscriber needs from an MQTT client library: paho and gmqtt are interchangeable.

A transport owns the network side: it connects (and reconnects, with back-off), subscribes on every
connect, turns each received PUBLISH into an item for the buffer and sends acknowledgements that
workers ask for. Everything behind the buffer (dispatch, stats, warnings, stop) is the
subscriber's and is the same for every engine.

An item starts with the fields of a :class:`Message` (topic, payload, qos, retain, mid,
properties, received_at), then the connection generation it arrived on; an engine may add what it
needs to acknowledge it later. Only the transport that made an item reads past the first eight.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import ssl
from collections.abc import Callable
from typing import Any, Literal, Protocol

from ._errors import ConfigError, ConnectError, EngineNotInstalledError
from ._url import BrokerURL

Engine = Literal["paho", "gmqtt"]
ENGINES: tuple[str, ...] = ("paho", "gmqtt")
ENGINE_ENV = "MQTT_SURGE_ENGINE"
ENGINE_HELP = f"client engine: paho or gmqtt (faster, extra 'fast'); default ${ENGINE_ENV} or paho"
Item = tuple[Any, ...]

# CONNACK codes, MQTT 3.1.1 return codes and their MQTT 5 reason codes
_BAD_CREDENTIALS = {134, 4}
_NOT_AUTHORIZED = {135, 5}
_BAD_PROTOCOL = {1, 132}


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


def resolve_engine(engine: str | None) -> Engine:
    """``engine`` checked; None means ``$MQTT_SURGE_ENGINE``, else paho."""
    chosen = engine if engine is not None else os.environ.get(ENGINE_ENV) or "paho"
    if chosen == "paho":
        return "paho"
    if chosen == "gmqtt":
        if importlib.util.find_spec("gmqtt") is None:
            raise EngineNotInstalledError(
                "engine='gmqtt' needs the gmqtt package: pip install 'mqtt-surge[fast]'"
            )
        return "gmqtt"
    source = "engine" if engine is not None else f"${ENGINE_ENV}"
    raise ConfigError(f"{source} must be one of {', '.join(ENGINES)}; got {chosen!r}")


def make_transport(engine: Engine, settings: Settings, events: Events) -> Transport:
    if engine == "gmqtt":
        from ._gmqtt import GmqttTransport  # noqa: PLC0415 - optional dependency

        return GmqttTransport(settings, events)
    from ._paho import PahoTransport  # noqa: PLC0415 - keeps the two engines symmetric

    return PahoTransport(settings, events)


def silence_limit(keepalive: int, check_lag: float = 0.0) -> float:
    """1.5x the keepalive, MQTT's rule for the server ([MQTT-3.1.2-24]), or more when the engine's
    own ping can leave up to ``check_lag`` s late (a healthy idle link must never reach it)."""
    if not keepalive:
        return float("inf")
    return max(1.5 * keepalive, keepalive + 2 * check_lag)


def connect_error(code: int, text: str, url: BrokerURL) -> ConnectError:
    """A refused CONNACK as our error, classified so that callers can tell a bad login."""
    if code in _BAD_CREDENTIALS:
        reason = "bad_credentials"
    elif code in _NOT_AUTHORIZED:
        reason = "not_authorized"
    else:
        reason = "refused"
    if code in _BAD_PROTOCOL:
        text += (
            " (this broker does not speak the MQTT version asked for: use protocol=4, or a "
            "broker that speaks MQTT 5: --mqtt-broker=embedded or --mqtt-broker=mosquitto)"
        )
    return ConnectError(
        f"{url.redacted} refused the connection: {text}", reason=reason, return_code=code
    )
