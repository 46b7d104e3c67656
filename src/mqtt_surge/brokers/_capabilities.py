"""What each broker engine supports, declared, so that a test can say what it needs.

The names are behaviours of the MQTT specifications that downstream tests rely on; the conformance
suite (tests/conformance/) checks every declared one against the engine, with the same assertions
for every engine, and the README's fidelity table is generated from its results.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from ._options import OPTIONS

__all__ = ["EVERYTHING", "FEATURES", "MQTT5_ONLY", "OPTIONS", "Capabilities"]

# name -> what it means (shown in skip reasons and in the README)
FEATURES: dict[str, str] = {
    "qos2": "QoS 2 end to end, exactly once",
    "qos_downgrade": "a message is delivered at min(publish QoS, subscription QoS)",
    "retained": "retained messages: set, replace, clear with an empty payload",
    "dollar_topics": "'$' topics are not matched by filters starting with '#' or '+'",
    "will": "the will is published when a client's connection ends without DISCONNECT",
    "will_on_keepalive": "a client silent for 1.5x its keepalive is disconnected, will published",
    "persistent_session": "a persistent session is resumed (CONNACK session present = 1)",
    "offline_queue": "QoS 1/2 messages for an absent persistent session are kept for it",
    "redelivery": "unacknowledged QoS 1/2 messages are sent again on reconnect, with DUP",
    "shared_subscriptions": "$share/<group>/<filter>: each message to one member of the group",
    # MQTT 5 only
    "user_properties": "MQTT 5 user properties reach the subscriber unchanged",
    "request_response": "MQTT 5 response topic and correlation data reach the subscriber",
    "message_expiry": "MQTT 5 message expiry: an expired message is not delivered",
    "session_expiry": "MQTT 5 session expiry: an expired session is not resumed",
    "no_local": "MQTT 5 no-local: a client's own publications are not sent back to it",
    "retain_as_published": "MQTT 5 retain-as-published keeps the RETAIN flag on forwarding",
    "subscription_identifiers": "MQTT 5 subscription identifiers come with matching messages",
    "topic_alias": "MQTT 5 topic aliases from the client are resolved",
    "will_delay": "MQTT 5 will delay: the will waits, and a reconnect in time cancels it",
    # what only our own broker can do for a test
    "packet_capture": "the broker's view: every packet in and out (broker.packets, mqtt_capture)",
    "manual_clock": "a clock the test advances: expiry, will delay, keepalive (clock='manual')",
    "protocol_faults": "protocol faults on demand: acks withheld, messages twice (broker.faults)",
}
# the embedded broker's own: no other engine can offer them
OURS_ONLY = frozenset({"packet_capture", "manual_clock", "protocol_faults"})
MQTT5_ONLY = frozenset(
    {
        "user_properties",
        "request_response",
        "message_expiry",
        "session_expiry",
        "no_local",
        "retain_as_published",
        "subscription_identifiers",
        "topic_alias",
        "will_delay",
    }
)


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """The MQTT protocol versions (4 = 3.1.1, 5) and behaviours (``FEATURES``) an engine has.

    ``options`` are the broker options (``OPTIONS``: TLS, logins, limits...) it can be
    configured with. ``reasons`` says, for a behaviour or an option an engine lacks, why (shown
    when a test is skipped).
    """

    protocols: frozenset[int]
    features: frozenset[str]
    reasons: tuple[tuple[str, str], ...] = ()
    options: frozenset[str] = frozenset(OPTIONS)

    def __post_init__(self) -> None:
        unknown = (set(self.features) - set(FEATURES)) | (set(self.options) - set(OPTIONS))
        if unknown:
            raise ValueError(f"unknown broker features or options: {sorted(unknown)}")

    def missing_options(self, options: Iterable[str]) -> list[str]:
        """Which of the broker ``options`` (names) this engine cannot be configured with, each
        with its reason."""
        why = dict(self.reasons)
        gaps = []
        for name in dict.fromkeys("websockets" if o == "ws_path" else o for o in options):
            if name not in OPTIONS:
                raise ValueError(f"unknown broker option {name!r}: one of {sorted(OPTIONS)}")
            if name not in self.options:
                gaps.append(f"option {name} ({OPTIONS[name]}): {why.get(name, 'not supported')}")
        return gaps

    def missing(self, protocol: int | None = None, needs: Iterable[str] = ()) -> list[str]:
        """What of ``protocol`` and ``needs`` this engine lacks, each with its reason."""
        why = dict(self.reasons)
        gaps = []
        if protocol is not None and protocol not in self.protocols:
            gaps.append(f"MQTT {'3.1.1' if protocol == 4 else protocol}: {why.get('protocol', '')}")
        for need in needs:
            if need not in FEATURES:
                raise ValueError(f"unknown broker feature {need!r}: one of {sorted(FEATURES)}")
            if need not in self.features:
                gaps.append(f"{need} ({FEATURES[need]}): {why.get(need, 'not supported')}")
        return gaps


EVERYTHING = Capabilities(frozenset({4, 5}), frozenset(FEATURES))
