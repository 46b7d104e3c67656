"""MQTT 5.0 behaviours (OASIS Standard, 2019), run on every engine that speaks 5.

Engines that do not speak MQTT 5 are skipped with the reason ("not supported" in the table).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from paho.mqtt.packettypes import PacketTypes

from ._peer import Peer, properties

FIVE = pytest.mark.parametrize("protocol", [5], ids=["5"])
Make = Callable[..., Peer]


def _prefix() -> str:
    return f"conf5/{uuid.uuid4().hex[:12]}"


def _pair(peer: Make, topic: str, qos: int = 1, **options: object) -> tuple[Peer, Peer]:
    sub = peer()
    sub.connect()
    sub.subscribe(topic, qos, **options)  # type: ignore[arg-type]
    pub = peer()
    pub.connect()
    return sub, pub


@pytest.mark.statements("5:MQTT-3.3.2-17", "5:MQTT-3.3.2-18")
@FIVE
@pytest.mark.mqtt_broker(needs=["user_properties"])
def test_user_properties_are_forwarded_unchanged(peer: Make) -> None:
    """[MQTT-3.3.2-17]/[MQTT-3.3.2-18]: user properties are forwarded, in order."""
    t = _prefix()
    sub, pub = _pair(peer, f"{t}/x")
    pairs = [("a", "1"), ("b", "2"), ("a", "3")]
    pub.publish(f"{t}/x", b"p", qos=1, props=properties(PacketTypes.PUBLISH, UserProperty=pairs))
    (message,) = sub.wait_for(1)
    assert message.properties.UserProperty == pairs


@pytest.mark.statements("5:MQTT-3.3.2-15", "5:MQTT-3.3.2-16")
@FIVE
@pytest.mark.mqtt_broker(needs=["request_response"])
def test_response_topic_and_correlation_data_are_forwarded(peer: Make) -> None:
    """[MQTT-3.3.2-15]/[MQTT-3.3.2-16]: response topic and correlation data go unaltered."""
    t = _prefix()
    sub, pub = _pair(peer, f"{t}/req")
    props = properties(PacketTypes.PUBLISH, ResponseTopic=f"{t}/resp", CorrelationData=b"\x00id-7")
    pub.publish(f"{t}/req", b"ask", qos=1, props=props)
    (message,) = sub.wait_for(1)
    assert message.properties.ResponseTopic == f"{t}/resp"
    assert message.properties.CorrelationData == b"\x00id-7"


@pytest.mark.statements("5:MQTT-3.8.3-3")
@FIVE
@pytest.mark.mqtt_broker(needs=["no_local"])
def test_no_local_keeps_a_clients_own_messages_from_it(peer: Make) -> None:
    """[MQTT-3.8.3-3]: with No Local, messages are not forwarded to the client that sent them."""
    t = _prefix()
    me = peer()
    me.connect()
    me.subscribe(f"{t}/#", 1, no_local=True)
    me.publish(f"{t}/mine", b"own", qos=1)
    other = peer()
    other.connect()
    other.publish(f"{t}/marker", b"m", qos=1)
    assert me.received_before(f"{t}/marker") == []


@pytest.mark.statements("5:MQTT-3.3.1-12", "5:MQTT-3.3.1-13")
@FIVE
@pytest.mark.mqtt_broker(needs=["retain_as_published"])
def test_retain_as_published_keeps_the_flag(peer: Make) -> None:
    """[MQTT-3.3.1-12]: without it RETAIN is 0 on forwarding; [MQTT-3.3.1-13]: with it, kept."""
    t = _prefix()
    plain = peer()
    plain.connect()
    plain.subscribe(f"{t}/x", 1)
    kept = peer()
    kept.connect()
    kept.subscribe(f"{t}/x", 1, retain_as_published=True)
    pub = peer()
    pub.connect()
    pub.publish(f"{t}/x", b"r", qos=1, retain=True)
    assert [m.retain for m in plain.wait_for(1)] == [False]
    assert [m.retain for m in kept.wait_for(1)] == [True]
    pub.publish(f"{t}/x", b"", qos=1, retain=True)


@pytest.mark.statements("5:MQTT-3.3.4-3")
@FIVE
@pytest.mark.mqtt_broker(needs=["subscription_identifiers"])
def test_subscription_identifier_comes_with_matching_messages(peer: Make) -> None:
    """[MQTT-3.3.4-3]: the PUBLISH carries the identifier of the matching subscription."""
    t = _prefix()
    sub = peer()
    sub.connect()
    sub.subscribe(f"{t}/a/#", 1, subscription_id=7)
    sub.subscribe(f"{t}/b/#", 1, subscription_id=9)
    pub = peer()
    pub.connect()
    pub.publish(f"{t}/b/x", b"b", qos=1)
    (message,) = sub.wait_for(1)
    assert message.properties.SubscriptionIdentifier == [9]


@pytest.mark.statements("5:MQTT-3.3.2-12")
@FIVE
@pytest.mark.mqtt_broker(needs=["topic_alias"])
def test_topic_alias_from_the_client_is_resolved(peer: Make) -> None:
    """[MQTT-3.3.2-12]: a PUBLISH with a topic alias and an empty topic uses the alias' topic."""
    t = _prefix()
    sub, pub = _pair(peer, f"{t}/x")
    pub.publish(f"{t}/x", b"first", qos=1, props=properties(PacketTypes.PUBLISH, TopicAlias=1))
    pub.publish("", b"second", qos=1, props=properties(PacketTypes.PUBLISH, TopicAlias=1))
    got = sub.wait_for(2)
    assert [(m.topic, m.payload) for m in got] == [(f"{t}/x", b"first"), (f"{t}/x", b"second")]


@pytest.mark.statements("5:MQTT-3.3.2-5", "5:MQTT-3.3.2-6")
@FIVE
@pytest.mark.mqtt_broker(needs=["message_expiry", "offline_queue"])
def test_an_expired_message_is_not_delivered(peer: Make) -> None:
    """[MQTT-3.3.2-5]: once its Message Expiry Interval has passed, the server does not deliver
    it to a subscriber that was away; one still valid is delivered with the remaining interval
    [MQTT-3.3.2-6]."""
    t, cid = _prefix(), f"conf5-expiry-{uuid.uuid4().hex[:8]}"
    away = peer(client_id=cid)
    away.connect(clean=True, session_expiry=300)
    away.subscribe(f"{t}/x", 1)
    away.disconnect()
    pub = peer()
    pub.connect()
    pub.publish(
        f"{t}/x", b"short", qos=1, props=properties(PacketTypes.PUBLISH, MessageExpiryInterval=1)
    )
    pub.publish(
        f"{t}/x", b"long", qos=1, props=properties(PacketTypes.PUBLISH, MessageExpiryInterval=300)
    )
    time.sleep(2.2)  # pace: let the first message's 1 s expiry pass while the client is away
    back = peer(client_id=cid)
    assert back.connect(clean=False, session_expiry=300) is True
    (message,) = back.wait_for(1)
    assert message.payload == b"long"
    assert 0 < message.properties.MessageExpiryInterval <= 300


@pytest.mark.statements("5:MQTT-4.1.0-2", "5:MQTT-3.1.2-23")
@FIVE
@pytest.mark.mqtt_broker(needs=["session_expiry"])
def test_an_expired_session_is_not_resumed(peer: Make) -> None:
    """[MQTT-3.1.2-23]: the session ends when the Session Expiry Interval has passed after the
    connection closed; a later CONNECT gets session present 0 [MQTT-3.2.2-2]."""
    cid = f"conf5-sexp-{uuid.uuid4().hex[:8]}"
    first = peer(client_id=cid)
    first.connect(clean=True, session_expiry=1)
    first.subscribe(f"{_prefix()}/x", 1)
    first.disconnect()
    time.sleep(2.2)  # pace: let the 1 s session expiry pass
    again = peer(client_id=cid)
    assert again.connect(clean=False, session_expiry=1) is False


@pytest.mark.statements("5:MQTT-3.1.3-9", "5:MQTT-3.1.2-8")
@FIVE
@pytest.mark.mqtt_broker(needs=["will_delay"])
def test_will_delay_waits_and_a_reconnect_cancels_it(peer: Make) -> None:
    """[MQTT-3.1.3-9]: the will is not published before the Will Delay Interval has passed;
    a reconnect of the same session within it means no will is published."""
    t, cid = _prefix(), f"conf5-wdelay-{uuid.uuid4().hex[:8]}"
    watcher = peer()
    watcher.connect()
    watcher.subscribe(f"{t}/will", 1)
    device = peer(client_id=cid)
    device.connect(
        clean=True,
        session_expiry=300,
        will=(f"{t}/will", b"late", 1, False),
        will_properties=properties(PacketTypes.WILLMESSAGE, WillDelayInterval=2),
    )
    device.drop()
    back = peer(client_id=cid)
    back.connect(clean=False, session_expiry=300)  # within the delay: no will
    time.sleep(3)  # pace: past the will delay, to see that nothing came
    pub = peer()
    pub.connect()
    watcher.subscribe(f"{t}/marker", 1)
    pub.publish(f"{t}/marker", b"m", qos=1)
    assert watcher.received_before(f"{t}/marker") == []


@FIVE
@pytest.mark.mqtt_broker(needs=["shared_subscriptions"])
def test_shared_subscription_gives_each_message_to_one_member(peer: Make) -> None:
    """[MQTT-4.8.2-1] (5.0 4.8.2): a message matching a shared subscription goes to one session
    of the group, not to all of them."""
    t, group = _prefix(), uuid.uuid4().hex[:8]
    members = [peer(), peer()]
    for m in members:
        m.connect()
        m.subscribe(f"$share/{group}/{t}/x", 1)
    pub = peer()
    pub.connect()
    for i in range(40):
        pub.publish(f"{t}/x", str(i).encode(), qos=1)
    for m in members:
        m.subscribe(f"{t}/marker", 1)
    pub.publish(f"{t}/marker", b"m", qos=1)
    got = [p.payload for m in members for p in m.received_before(f"{t}/marker")]
    assert sorted(got, key=int) == [str(i).encode() for i in range(40)]
