"""The options a broker is configured with, one vocabulary for every engine: checked here once,
so that a bad value is refused the same way, at once, whichever engine was asked for.

The embedded broker applies them itself; the mosquitto engine writes the mosquitto.conf lines
that mean the same; an engine without an equivalent says so in its capabilities (``OPTIONS``)
and refuses the option with the reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..mqtt import codec
from ..runtime.errors import ConfigError
from ._acl import Acl

DEFAULT_WS_PATH = "/mqtt"


@dataclasses.dataclass(frozen=True)
class BrokerOptions:
    """What a broker offers beyond the protocol's defaults. ``None`` keeps the engine's own
    default. See ``docs/brokers.md`` for what each does on each engine."""

    tls: bool = False
    require_certificate: bool = False
    use_identity_as_username: bool = False
    websockets: bool = False
    ws_path: str = DEFAULT_WS_PATH
    users: Mapping[str, str] | None = None
    acl: Acl | None = None
    allow_anonymous: bool | None = None
    max_packet_size: int | None = None
    receive_maximum: int | None = None
    server_keepalive: int | None = None
    topic_alias_maximum: int | None = None
    max_queued_messages: int | None = None
    retain_available: bool = True
    wildcard_subscriptions: bool = True
    shared_subscriptions: bool = True
    max_session_expiry: int | None = None
    max_qos: int = 2
    outgoing_topic_aliases: bool = False
    clock: str = "real"

    @classmethod
    def check(cls, **given: Any) -> BrokerOptions:  # noqa: PLR0912 - one check per option
        """The options from keyword arguments, each checked; a :class:`ConfigError` names the
        first bad one and its value."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(given) - names)
        if unknown:
            raise ConfigError(
                f"unknown broker option(s) {', '.join(unknown)}: one of {sorted(names)}"
            )
        for flag in (
            "tls",
            "require_certificate",
            "use_identity_as_username",
            "websockets",
            "retain_available",
            "wildcard_subscriptions",
            "shared_subscriptions",
            "outgoing_topic_aliases",
        ):
            if flag in given and not isinstance(given[flag], bool):
                raise ConfigError(f"{flag} must be True or False, got {given[flag]!r}")
        if given.get("require_certificate") and not given.get("tls"):
            raise ConfigError("require_certificate=True needs tls=True: certificates travel in TLS")
        if given.get("use_identity_as_username") and not given.get("require_certificate"):
            raise ConfigError(
                "use_identity_as_username=True needs require_certificate=True: the login name "
                "is the client certificate's common name"
            )
        if given.get("clock", "real") not in ("real", "manual"):
            raise ConfigError(f"clock must be 'real' or 'manual', got {given['clock']!r}")
        path = given.get("ws_path", DEFAULT_WS_PATH)
        if not isinstance(path, str) or not path.startswith("/") or any(c in path for c in " ?#"):
            raise ConfigError(f"ws_path must be a URL path such as '/mqtt', got {path!r}")
        users = given.get("users")
        if users is not None:
            if not isinstance(users, Mapping) or not users:
                raise ConfigError(f"users must be a dict of user name to password, got {users!r}")
            for name, password in users.items():
                if not isinstance(name, str) or not name or ":" in name or "\n" in name:
                    raise ConfigError(
                        f"user name {name!r} in users: a non-empty string without ':' or a line "
                        "break (mosquitto's password file separates name and hash with ':')"
                    )
                if not isinstance(password, str) or "\n" in password:
                    raise ConfigError(f"the password of user {name!r} must be a one-line string")
            given["users"] = dict(users)
        acl = given.get("acl")
        if acl is not None and not isinstance(acl, Acl):
            given["acl"] = Acl.parse(acl)
        anonymous = given.get("allow_anonymous")
        if anonymous is not None and not isinstance(anonymous, bool):
            raise ConfigError(f"allow_anonymous must be True, False or None, got {anonymous!r}")
        for name, low, high in (
            ("max_packet_size", 2, codec.MAX_PACKET_SIZE),
            ("receive_maximum", 1, 65535),
            ("server_keepalive", 1, 65535),
            ("topic_alias_maximum", 0, 65535),
            ("max_queued_messages", 1, 2**31 - 1),
            ("max_session_expiry", 0, 0xFFFFFFFF),
            ("max_qos", 0, 2),
        ):
            value = given.get(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"{name} must be an int from {low} to {high}, got {value!r}")
        return cls(**given)

    def changed(self) -> dict[str, Any]:
        """The options that differ from their defaults: what an engine must be able to do."""
        default = BrokerOptions()
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        }


# option -> what it gives (the README's table; an engine's capabilities name the ones it has)
OPTIONS: dict[str, str] = {
    "tls": "a TLS listener (mqtts://) under a certificate authority made per broker",
    "require_certificate": "mutual TLS: a client without a certificate from the broker's CA is "
    "refused",
    "use_identity_as_username": "the client certificate's common name is the login name",
    "websockets": "an MQTT-over-WebSocket listener (ws://, wss:// with tls)",
    "users": "logins: only these user names and passwords get in",
    "acl": "per-topic permissions in mosquitto's acl_file syntax",
    "allow_anonymous": "whether a client without a user name gets in",
    "max_packet_size": "the largest packet accepted (announced in MQTT 5's CONNACK)",
    "receive_maximum": "unacknowledged QoS 1/2 messages each way (announced)",
    "server_keepalive": "the longest keepalive allowed (MQTT 5 Server Keep Alive)",
    "topic_alias_maximum": "the topic aliases a client may set (announced)",
    "max_queued_messages": "QoS 1/2 messages held for a client beyond its in-flight window",
    "retain_available": "False: retained messages refused (announced)",
    "wildcard_subscriptions": "False: subscriptions with wildcards refused (announced)",
    "shared_subscriptions": "False: $share subscriptions refused (announced)",
    "max_session_expiry": "the longest session expiry granted (MQTT 5, announced when lower)",
    "max_qos": "the highest QoS accepted (announced; subscriptions granted at most it)",
    "outgoing_topic_aliases": "the broker sets topic aliases on what it sends (MQTT 5)",
    "clock": "'manual': a clock the test advances (broker.clock.advance(seconds))",
}
