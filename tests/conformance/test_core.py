"""Behaviours MQTT 3.1.1 and 5.0 share, written from the specifications, run on every engine.

Statement numbers are the normative statements of MQTT 3.1.1 (OASIS Standard, 2014) and, after a
slash, of MQTT 5.0 (OASIS Standard, 2019) where they differ.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from ._peer import WAIT, Peer

BOTH = pytest.mark.parametrize("protocol", [4, 5], ids=["3.1.1", "5"])
Make = Callable[..., Peer]


def _prefix() -> str:
    return f"conf/{uuid.uuid4().hex[:12]}"


@BOTH
def test_publish_subscribe_roundtrip(peer: Make) -> None:
    """[MQTT-3.3.5-1]: the server sends a PUBLISH to every client whose subscription matches."""
    t = _prefix()
    sub = peer()
    sub.connect()
    assert sub.subscribe(f"{t}/#", 1) == [1]
    pub = peer()
    pub.connect()
    pub.publish(f"{t}/a", b"one", qos=1)
    (message,) = sub.wait_for(1)
    assert (message.topic, message.payload) == (f"{t}/a", b"one")


@pytest.mark.statements(
    "3.1.1:MQTT-4.7.1-2",
    "3.1.1:MQTT-4.7.1-3",
    "3.1.1:MQTT-3.8.3-2",
    "5:MQTT-4.7.1-1",
    "5:MQTT-4.7.1-2",
)
@BOTH
def test_wildcards_match_as_specified(peer: Make) -> None:
    """[MQTT-4.7.1-2] '#' matches the parent level too; [MQTT-4.7.1-3] '+' one level only."""
    t = _prefix()
    sub = peer()
    sub.connect()
    sub.subscribe(f"{t}/a/#", 0)
    sub.subscribe(f"{t}/+/c", 0)
    pub = peer()
    pub.connect()
    for topic in (f"{t}/a", f"{t}/a/b/c", f"{t}/b/c", f"{t}/b/x/c", f"{t}/marker"):
        pub.publish(topic, b"x", qos=1)
    sub.subscribe(f"{t}/marker", 0)
    pub.publish(f"{t}/marker", b"m", qos=1)
    got = sorted({m.topic for m in sub.received_before(f"{t}/marker")})
    assert got == sorted({f"{t}/a", f"{t}/a/b/c", f"{t}/b/c"})


@pytest.mark.statements("3.1.1:MQTT-3.8.4-6", "5:MQTT-3.8.4-8")
@BOTH
@pytest.mark.mqtt_broker(needs=["qos_downgrade"])
def test_delivered_qos_is_the_minimum_of_publish_and_subscription(peer: Make) -> None:
    """[MQTT-3.8.4-6]/[MQTT-3.8.4-8]: delivered at the lower of the two QoS."""
    t = _prefix()
    low, high = peer(), peer()
    low.connect()
    high.connect()
    low.subscribe(f"{t}/x", 0)
    high.subscribe(f"{t}/x", 2)
    pub = peer()
    pub.connect()
    pub.publish(f"{t}/x", b"q1", qos=1)
    assert [m.qos for m in low.wait_for(1)] == [0]
    assert [m.qos for m in high.wait_for(1)] == [1]


@pytest.mark.statements("3.1.1:MQTT-4.3.3-2", "5:MQTT-4.3.3-10")
@BOTH
@pytest.mark.mqtt_broker(needs=["qos2"])
def test_qos2_end_to_end_exactly_once(peer: Make) -> None:
    """[MQTT-4.3.3-2]/[MQTT-4.3.3-3], [MQTT-4.3.3-9]: QoS 2 flows deliver each message once."""
    t = _prefix()
    sub = peer()
    sub.connect()
    assert sub.subscribe(f"{t}/x", 2) == [2]
    pub = peer()
    pub.connect()
    for i in range(20):
        pub.publish(f"{t}/x", str(i).encode(), qos=2)
    pub.publish(f"{t}/x", b"end", qos=2)  # same topic and QoS: it comes last [MQTT-4.6.0-3]
    got = sub.wait_for(21)
    assert [m.payload for m in got] == [*(str(i).encode() for i in range(20)), b"end"]
    assert {m.qos for m in got} == {2}
    pub.publish(f"{t}/x", b"after", qos=2)
    assert len(sub.wait_for(22)) == 22  # nothing came twice in between


@pytest.mark.statements(
    "3.1.1:MQTT-3.3.1-5", "3.1.1:MQTT-3.3.1-10", "5:MQTT-3.3.1-5", "5:MQTT-3.3.1-6"
)
@BOTH
@pytest.mark.mqtt_broker(needs=["retained"])
def test_retained_set_replace_clear(peer: Make) -> None:
    """[MQTT-3.3.1-5] stored, replacing the one before; [MQTT-3.3.1-6] sent to a new subscription;
    [MQTT-3.3.1-10]/[MQTT-3.3.1-11] an empty retained payload clears it."""
    t = _prefix()
    pub = peer()
    pub.connect()
    pub.publish(f"{t}/s", b"first", qos=1, retain=True)
    pub.publish(f"{t}/s", b"second", qos=1, retain=True)
    sub = peer()
    sub.connect()
    sub.subscribe(f"{t}/#", 1)
    (message,) = sub.wait_for(1)
    assert (message.payload, message.retain) == (b"second", True)
    pub.publish(f"{t}/s", b"", qos=1, retain=True)
    late = peer()
    late.connect()
    late.subscribe(f"{t}/#", 1)
    pub.publish(f"{t}/marker", b"m", qos=1)
    assert late.received_before(f"{t}/marker") == []


@pytest.mark.statements("3.1.1:MQTT-4.7.2-1", "5:MQTT-4.7.2-1")
@BOTH
@pytest.mark.mqtt_broker(needs=["dollar_topics"])
def test_dollar_topics_are_not_matched_by_leading_wildcards(peer: Make) -> None:
    """[MQTT-4.7.2-1]: '#' and '+/...' do not match topics starting with '$'."""
    tag = uuid.uuid4().hex[:12]
    wild = peer()
    wild.connect()
    wild.subscribe("#", 0)
    wild.subscribe(f"+/{tag}", 0)
    exact = peer()
    exact.connect()
    exact.subscribe(f"$conf/{tag}", 0)
    pub = peer()
    pub.connect()
    pub.publish(f"$conf/{tag}", b"dollar", qos=1)
    assert [m.payload for m in exact.wait_for(1)] == [b"dollar"]  # it was published, and routed
    pub.publish(f"conf/{tag}", b"marker", qos=1)
    # '#' also brings the retained messages other tests left on the session's broker: only a
    # '$' topic among them breaks the statement
    got = [m.topic for m in wild.received_before(f"conf/{tag}")]
    assert [t for t in got if t.startswith("$")] == []


@pytest.mark.statements("3.1.1:MQTT-3.10.4-2", "5:MQTT-3.10.4-2")
@BOTH
def test_unsubscribe_stops_delivery(peer: Make) -> None:
    """[MQTT-3.10.4-1]/[MQTT-3.10.4-2]: after UNSUBACK the filter no longer delivers."""
    t = _prefix()
    sub = peer()
    sub.connect()
    sub.subscribe(f"{t}/x", 1)
    sub.subscribe(f"{t}/marker", 1)
    sub.unsubscribe(f"{t}/x")
    pub = peer()
    pub.connect()
    pub.publish(f"{t}/x", b"gone", qos=1)
    pub.publish(f"{t}/marker", b"m", qos=1)
    assert sub.received_before(f"{t}/marker") == []


@pytest.mark.statements("3.1.1:MQTT-3.1.2-8", "5:MQTT-3.1.2-8")
@BOTH
@pytest.mark.mqtt_broker(needs=["will"])
def test_will_is_published_when_the_connection_drops(peer: Make) -> None:
    """[MQTT-3.1.2-8]: a connection closed without DISCONNECT publishes the will."""
    t = _prefix()
    watcher = peer()
    watcher.connect()
    watcher.subscribe(f"{t}/will", 1)
    device = peer()
    device.connect(will=(f"{t}/will", b"gone", 1, False))
    device.drop()
    (message,) = watcher.wait_for(1)
    assert message.payload == b"gone"


@pytest.mark.statements("3.1.1:MQTT-3.14.4-3", "5:MQTT-3.14.4-3")
@BOTH
@pytest.mark.mqtt_broker(needs=["will"])
def test_will_is_not_published_after_disconnect(peer: Make) -> None:
    """[MQTT-3.1.2-10]: a DISCONNECT discards the will."""
    t = _prefix()
    watcher = peer()
    watcher.connect()
    watcher.subscribe(f"{t}/#", 1)
    device = peer()
    device.connect(will=(f"{t}/will", b"gone", 1, False))
    device.disconnect()
    pub = peer()
    pub.connect()
    pub.publish(f"{t}/marker", b"m", qos=1)
    assert watcher.received_before(f"{t}/marker") == []


@pytest.mark.statements(
    "3.1.1:MQTT-3.1.2-24", "5:MQTT-3.1.2-22", "3.1.1:MQTT-3.1.2-8", "5:MQTT-3.1.2-8"
)
@BOTH
@pytest.mark.mqtt_broker(needs=["will_on_keepalive"])
def test_silent_client_is_disconnected_and_its_will_published(peer: Make) -> None:
    """[MQTT-3.1.2-24]/[MQTT-3.1.2-22]: no packet for 1.5x keepalive -> the server disconnects,
    and, the connection having ended without DISCONNECT, publishes the will [MQTT-3.1.2-8]."""
    t = _prefix()
    watcher = peer()
    watcher.connect()
    watcher.subscribe(f"{t}/will", 1)
    device = peer()
    device.connect(keepalive=1, will=(f"{t}/will", b"silent", 1, False))
    device.go_silent()
    (message,) = watcher.wait_for(1, timeout=WAIT)
    assert message.payload == b"silent"


def _connect_persistent(p: Peer, protocol: int, first: bool) -> bool:
    if protocol == 5:
        return p.connect(clean=first, session_expiry=300)
    return p.connect(clean=False)


@pytest.mark.statements("3.1.1:MQTT-3.2.2-2", "5:MQTT-3.2.2-3")
@BOTH
@pytest.mark.mqtt_broker(needs=["persistent_session"])
def test_persistent_session_is_resumed(peer: Make, protocol: int) -> None:
    """[MQTT-3.2.2-2]/[MQTT-3.2.2-3]: CONNACK session present is 1 when a session is resumed,
    0 for a new one [MQTT-3.2.2-1]/[MQTT-3.2.2-2]; subscriptions are part of the session."""
    t, cid = _prefix(), f"conf-persist-{uuid.uuid4().hex[:8]}"  # a client id never used
    first = peer(client_id=cid)
    assert _connect_persistent(first, protocol, first=protocol == 5) is False
    first.subscribe(f"{t}/x", 1)
    first.disconnect()
    again = peer(client_id=cid)
    assert _connect_persistent(again, protocol, first=False) is True
    pub = peer()
    pub.connect()
    pub.publish(f"{t}/x", b"kept", qos=1)
    assert [m.payload for m in again.wait_for(1)] == [b"kept"]  # no new SUBSCRIBE was sent


@pytest.mark.statements("3.1.1:MQTT-3.1.2-5", "5:MQTT-3.1.2-23")
@BOTH
@pytest.mark.mqtt_broker(needs=["offline_queue"])
def test_messages_for_an_absent_persistent_session_are_queued(peer: Make, protocol: int) -> None:
    """[MQTT-3.1.2-5]/[MQTT-3.1.2-23] (3.1.1 4.1): QoS 1 and 2 messages published while the
    client is away are part of its session and delivered when it comes back."""
    t, cid = _prefix(), f"conf-queue-{uuid.uuid4().hex[:8]}"
    first = peer(client_id=cid)
    _connect_persistent(first, protocol, first=True)
    first.subscribe(f"{t}/x", 1)
    first.disconnect()
    pub = peer()
    pub.connect()
    for i in range(5):
        pub.publish(f"{t}/x", str(i).encode(), qos=1)
    again = peer(client_id=cid)
    _connect_persistent(again, protocol, first=False)
    got = again.wait_for(5)
    assert [m.payload for m in got] == [str(i).encode() for i in range(5)]
    # forwarded to an established subscription: RETAIN is 0 [MQTT-3.3.1-9]/[MQTT-3.3.1-12]
    assert [m.retain for m in got] == [False] * 5


@pytest.mark.statements("3.1.1:MQTT-4.4.0-1", "5:MQTT-4.4.0-1")
@BOTH
@pytest.mark.mqtt_broker(needs=["redelivery"])
def test_unacknowledged_messages_are_redelivered_on_reconnect(peer: Make, protocol: int) -> None:
    """[MQTT-4.4.0-1]: on reconnect with a session, unacknowledged PUBLISH packets are sent again,
    with DUP set [MQTT-3.3.1-1]."""
    t, cid = _prefix(), f"conf-redeliver-{uuid.uuid4().hex[:8]}"
    first = peer(client_id=cid, manual_ack=True)  # never acks
    _connect_persistent(first, protocol, first=True)
    first.subscribe(f"{t}/x", 1)
    pub = peer()
    pub.connect()
    pub.publish(f"{t}/x", b"unacked", qos=1)
    first.wait_for(1)
    first.drop()
    again = peer(client_id=cid)
    _connect_persistent(again, protocol, first=False)
    (message,) = again.wait_for(1)
    assert (message.payload, message.dup) == (b"unacked", True)
