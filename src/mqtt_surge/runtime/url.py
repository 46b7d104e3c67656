"""Broker addresses: parse, validate and redact.

Every way a user can name a broker (``"localhost"``, ``"host:1884"``, ``"mqtt://user:pw@host"``,
``"mqtts://host"``, ``"[::1]:1883"``, ``"ws://host:9001/mqtt"``) becomes one :class:`BrokerURL`.
Its ``repr`` and ``str`` never show the password, so it can be logged, printed in a pytest
header or put in an error message.
"""

from __future__ import annotations

import dataclasses
import urllib.parse

from .errors import ConfigError

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883, "ws": 80, "wss": 443}
_SCHEME_ALIASES = {"tcp": "mqtt", "ssl": "mqtts", "tls": "mqtts"}
DEFAULT_WS_PATH = "/mqtt"  # where brokers (and paho's client) put MQTT over WebSocket
_REDACTED = "***"


def _check_port(port: int, text: str) -> int:
    if not 1 <= port <= 65535:
        raise ConfigError(f"port {port} in {text!r} is out of range: use 1-65535")
    return port


@dataclasses.dataclass(frozen=True, slots=True)
class BrokerURL:
    """Where a broker listens and how to log in. ``password`` never appears in ``repr``/``str``."""

    host: str
    port: int
    scheme: str = "mqtt"
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    #: the HTTP path of a WebSocket listener (ws://, wss://); empty for MQTT over TCP
    path: str = ""

    def __post_init__(self) -> None:
        if self.scheme not in DEFAULT_PORTS:
            raise ConfigError(
                f"unsupported scheme {self.scheme!r}: use one of {sorted(DEFAULT_PORTS)}"
            )
        if not self.host or any(c in self.host for c in "/ ?#@"):
            raise ConfigError(f"invalid broker host {self.host!r}")
        _check_port(self.port, f"{self.host}:{self.port}")
        if self.password is not None and self.username is None:
            raise ConfigError("a broker password was given without a username")
        if self.websocket and not self.path.startswith("/"):
            raise ConfigError(f"a WebSocket URL needs a path such as '/mqtt', got {self.path!r}")
        if not self.websocket and self.path:
            raise ConfigError(f"only ws:// and wss:// URLs have a path, got {self.path!r}")

    @property
    def tls(self) -> bool:
        return self.scheme in ("mqtts", "wss")

    @property
    def websocket(self) -> bool:
        """MQTT over WebSocket (ws://, wss://) rather than over TCP."""
        return self.scheme in ("ws", "wss")

    def _render(self, password: str | None) -> str:
        userinfo = ""
        if self.username is not None:
            userinfo = urllib.parse.quote(self.username, safe="")
            if password is not None:
                userinfo += ":" + password
            userinfo += "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{userinfo}{host}:{self.port}{self.path}"

    @property
    def redacted(self) -> str:
        """The URL with the password replaced by ``***``: safe for logs and messages."""
        return self._render(None if self.password is None else _REDACTED)

    @property
    def full(self) -> str:
        """The URL with the real password: for handing to another process, never for logging."""
        pw = None if self.password is None else urllib.parse.quote(self.password, safe="")
        return self._render(pw)

    def __str__(self) -> str:
        return self.redacted

    def __repr__(self) -> str:
        return f"BrokerURL({self.redacted!r})"


def parse_broker(text: str, *, default_port: int | None = None) -> BrokerURL:
    """Parse ``host``, ``host:port`` or an ``mqtt://`` / ``mqtts://`` / ``ws://`` / ``wss://``
    URL (a WebSocket URL's path defaults to ``/mqtt``).

    Errors name the bad value and never echo a password.
    """
    if not isinstance(text, str):
        raise ConfigError(
            f"broker must be a string such as 'localhost:1883', got {type(text).__name__}"
        )
    raw = text.strip()
    if not raw:
        raise ConfigError("broker is empty: give a host, host:port or mqtt://host:port")
    if "://" not in raw:
        raw = "mqtt://" + raw
    try:
        parts = urllib.parse.urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        safe = _strip_userinfo(text)
        raise ConfigError(f"invalid broker address {safe!r}: {exc}") from exc
    scheme = _SCHEME_ALIASES.get(parts.scheme, parts.scheme)
    if scheme not in DEFAULT_PORTS:
        raise ConfigError(
            f"unsupported scheme {parts.scheme!r} in {_strip_userinfo(text)!r}: "
            "use mqtt://, mqtts://, ws:// or wss://"
        )
    websocket = scheme in ("ws", "wss")
    if (not websocket and parts.path not in ("", "/")) or parts.query or parts.fragment:
        raise ConfigError(
            f"broker URL {_strip_userinfo(text)!r} has a path or query; "
            "give only scheme://[user[:password]@]host[:port]"
        )
    host = parts.hostname or ""
    if port is None:
        port = default_port if default_port is not None else DEFAULT_PORTS[scheme]
    username = urllib.parse.unquote(parts.username) if parts.username is not None else None
    password = urllib.parse.unquote(parts.password) if parts.password is not None else None
    if not host:
        raise ConfigError(f"broker address {_strip_userinfo(text)!r} has no host")
    path = (parts.path or DEFAULT_WS_PATH) if websocket else ""
    return BrokerURL(
        host=host, port=port, scheme=scheme, username=username, password=password, path=path
    )


def _strip_userinfo(text: str) -> str:
    """``text`` with anything before ``@`` in the authority replaced, for error messages."""
    head, sep, rest = text.partition("://")
    authority = rest if sep else head
    if "@" in authority.split("/", 1)[0]:
        tail = authority.split("@", 1)[1]
        return f"{head}://{_REDACTED}@{tail}" if sep else f"{_REDACTED}@{tail}"
    return text
