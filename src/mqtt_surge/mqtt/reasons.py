"""Reason codes a client reads in a CONNACK: MQTT 3.1.1 return codes (section 3.2.2.3) and MQTT 5
reason codes (section 3.2.2.2), each as the kind of refusal it is and the words for it."""

from __future__ import annotations

# code -> (kind, words); the kinds are ConnectError's reasons
CONNACK: dict[int, tuple[str, str]] = {
    1: ("refused", "unacceptable protocol version"),
    2: ("refused", "client identifier rejected"),
    3: ("refused", "server unavailable"),
    4: ("bad_credentials", "bad user name or password"),
    5: ("not_authorized", "not authorized"),
    132: ("refused", "unsupported protocol version"),
    134: ("bad_credentials", "bad user name or password"),
    135: ("not_authorized", "not authorized"),
}
BAD_PROTOCOL = frozenset({1, 132})  # the broker does not speak the MQTT version asked for
