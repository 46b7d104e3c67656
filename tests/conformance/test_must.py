"""MUST statements a broker keeps when the client is wrong, the same bytes to the embedded broker
and to mosquitto (the session's brokers): strings, CONNECT, packet identifiers, the QoS
handshakes, the reason codes MQTT 5 gives, will delay, session present.
"""

from __future__ import annotations

import time
import uuid

import pytest

from mqtt_surge import mqtt as p
from mqtt_surge.brokers import BrokerBase

from ._raw import Raw, disconnect_reason

NUL_AND_BAD_UTF8 = {"nul": b"a\x00b", "bad-utf8": b"a\xff\xfeb", "surrogate": b"a\xed\xa0\x80b"}


def _id() -> str:
    return f"must-{uuid.uuid4().hex[:10]}"


def _no_success(packets: list[tuple[int, bytes]]) -> bool:
    return all(first >> 4 != p.CONNACK or body[1] != 0 for first, body in packets)


@pytest.mark.statements(
    "3.1.1:MQTT-1.5.3-1", "3.1.1:MQTT-1.5.3-2", "3.1.1:MQTT-3.1.3-4", "3.1.1:MQTT-3.1.3-11"
)
@pytest.mark.parametrize("bad", sorted(NUL_AND_BAD_UTF8))
@pytest.mark.parametrize("field", ["client_id", "username"])
def test_a_connect_string_that_is_not_clean_utf8_closes(
    engine: BrokerBase, field: str, bad: str
) -> None:
    """3.1.1 [MQTT-1.5.3-1]/[MQTT-1.5.3-2], MQTT 5 [MQTT-1.5.4-1]/[MQTT-1.5.4-2]: ill-formed
    UTF-8 or U+0000 in a string closes the connection; here before any CONNACK 0x00."""
    raw = Raw(engine.url)
    if field == "client_id":
        raw.send(p.encode_connect(NUL_AND_BAD_UTF8[bad], level=4))
    else:
        raw.send(p.encode_connect(_id(), level=4, username=NUL_AND_BAD_UTF8[bad]))
    assert _no_success(raw.closes())


@pytest.mark.statements("5:MQTT-1.5.4-1", "5:MQTT-1.5.4-2", "5:MQTT-4.7.3-2", "5:MQTT-4.13.1-1")
@pytest.mark.parametrize("bad", sorted(NUL_AND_BAD_UTF8))
@pytest.mark.parametrize("packet", ["subscribe", "publish"])
def test_a_topic_that_is_not_clean_utf8_closes(engine: BrokerBase, packet: str, bad: str) -> None:
    """[MQTT-1.5.4-1]/[MQTT-1.5.4-2] in a topic filter or a topic name after CONNACK: MQTT 5
    closes with DISCONNECT 0x81 (malformed), never a SUBACK or PUBACK."""
    raw = Raw(engine.url)
    raw.connect(_id())
    name = b"must/" + NUL_AND_BAD_UTF8[bad]
    if packet == "subscribe":
        raw.send(p.encode_subscribe(1, [(name, 0)], True))
    else:
        raw.send(p.encode_publish(name, b"x", 1, False, 1, False, True, {}))
    packets = raw.closes()
    assert [first >> 4 for first, _ in packets] == [p.DISCONNECT]
    assert disconnect_reason(packets) in (0x81, 0x82)


def test_mqtt_3_1_with_an_empty_client_id_gets_connack_0x02(engine: BrokerBase) -> None:
    """MQTT 3.1 (protocol level 3) client identifiers are 1 to 23 characters: an empty one is
    refused with return code 2, identifier rejected (3.1.1 [MQTT-3.1.3-8] keeps that code)."""
    raw = Raw(engine.url)
    raw.send(p.encode_connect("", level=3))
    first, body = raw.packet()
    assert first >> 4 == p.CONNACK
    assert body[1] == 0x02


@pytest.mark.statements("5:MQTT-4.12.0-1")
def test_an_unsupported_authentication_method_gets_connack_0x8c(engine: BrokerBase) -> None:
    """MQTT 5 section 4.12 / [MQTT-4.12.0-1]: a server that does not support the client's
    Authentication Method answers CONNACK 0x8C (bad authentication method) or 0x87, and closes."""
    raw = Raw(engine.url)
    raw.send(p.encode_connect(_id(), level=5, props={p.AUTHENTICATION_METHOD: "SCRAM-NOPE"}))
    packets = raw.closes()
    assert [body[1] for first, body in packets if first >> 4 == p.CONNACK] in ([0x8C], [0x87])


@pytest.mark.parametrize(
    "data",
    [
        p.packet(0x82, b"\x00\x00\x00" + p.string("must/a") + b"\x00"),
        p.packet(0xA2, b"\x00\x00\x00" + p.string("must/a")),
        p.packet(0xA2, b"\x00\x07\x00"),
        p.packet(0x82, b"\x00\x07\x00"),
    ],
    ids=["subscribe-id-0", "unsubscribe-id-0", "unsubscribe-no-filter", "subscribe-no-filter"],
)
@pytest.mark.statements("5:MQTT-3.8.3-2", "5:MQTT-3.10.3-2")
def test_packet_id_0_or_no_filter_is_malformed(engine: BrokerBase, data: bytes) -> None:
    """[MQTT-2.3.1-1]: SUBSCRIBE and UNSUBSCRIBE carry a non-zero packet identifier;
    [MQTT-3.8.3-2]/[MQTT-3.10.3-2]: at least one topic filter. Either is malformed: MQTT 5
    DISCONNECT 0x81 (or 0x82), no SUBACK or UNSUBACK."""
    raw = Raw(engine.url)
    raw.connect(_id())
    raw.send(data)
    packets = raw.closes()
    assert [first >> 4 for first, _ in packets] == [p.DISCONNECT]
    assert disconnect_reason(packets) in (0x81, 0x82)


def _receive(engine: BrokerBase, qos: int) -> tuple[Raw, int]:
    """A subscriber with one QoS ``qos`` message in hand, not yet acknowledged."""
    topic = f"must/{uuid.uuid4().hex[:10]}"
    sub = Raw(engine.url)
    sub.connect(_id())
    sub.send(p.encode_subscribe(1, [(topic, qos)], True))
    assert sub.packet()[0] >> 4 == p.SUBACK
    pub = Raw(engine.url)
    pub.connect(_id())
    pub.send(p.encode_publish(topic, b"x", qos, False, 9, False, True, {}))
    if qos == 2:  # mosquitto forwards a QoS 2 message once its PUBREL came
        assert pub.packet()[0] >> 4 == p.PUBREC
        pub.send(p.encode_ack(p.PUBREL, 9, True))
    first, body = sub.packet()
    assert first >> 4 == p.PUBLISH
    return sub, p.decode_publish(first, body, True).mid


@pytest.mark.statements("5:MQTT-4.13.1-1")
@pytest.mark.parametrize(
    ("qos", "wrong"),
    [(1, p.PUBREC), (1, p.PUBCOMP), (2, p.PUBACK), (2, p.PUBCOMP)],
    ids=["qos1-pubrec", "qos1-pubcomp", "qos2-puback", "qos2-pubcomp"],
)
def test_the_wrong_acknowledgement_is_a_protocol_error(
    engine: BrokerBase, qos: int, wrong: int
) -> None:
    """MQTT 5 section 4.3: a QoS 1 PUBLISH is answered with PUBACK, a QoS 2 one with PUBREC; any
    other answer is a protocol error, which closes the connection (MQTT 5 section 4.13: after a
    DISCONNECT 0x82, which the embedded broker sends and mosquitto leaves out)."""
    sub, mid = _receive(engine, qos)
    sub.send(p.encode_ack(wrong, mid, True))
    packets = sub.closes()
    assert disconnect_reason(packets) == (0x82 if engine.engine == "embedded" else None)


@pytest.mark.statements("5:MQTT-4.4.0-2")
def test_a_pubrec_that_refuses_ends_the_flow(engine: BrokerBase) -> None:
    """MQTT 5 section 4.3.3: a PUBREC with a reason code of 0x80 or more ends the QoS 2 flow;
    no PUBREL follows it."""
    sub, mid = _receive(engine, 2)
    sub.send(p.encode_ack(p.PUBREC, mid, True, 0x80) + p.PINGREQ_PACKET)
    assert sub.packet()[0] >> 4 == p.PINGRESP


@pytest.mark.statements("5:MQTT-3.4.2-1", "5:MQTT-3.5.2-1")
def test_a_publish_nobody_subscribes_to_gets_0x10(engine: BrokerBase) -> None:
    """MQTT 5 section 3.4.2.1: PUBACK 0x10, no matching subscribers (a success code)."""
    raw = Raw(engine.url)
    raw.connect(_id())
    raw.send(p.encode_publish(f"must/nobody/{uuid.uuid4().hex}", b"x", 1, False, 3, False, True))
    ack = p.decode_ack(*raw.packet(), True)
    assert (ack.kind, ack.mid, ack.codes) == (p.PUBACK, 3, [0x10])


@pytest.mark.statements("5:MQTT-3.11.3-2")
def test_unsubscribing_what_was_never_subscribed_gets_0x11(engine: BrokerBase) -> None:
    """MQTT 5 section 3.11.3: UNSUBACK 0x11, no subscription existed, per filter."""
    raw = Raw(engine.url)
    raw.connect(_id())
    raw.send(p.encode_subscribe(1, [("must/held", 0)], True))
    assert raw.packet()[0] >> 4 == p.SUBACK
    raw.send(p.encode_unsubscribe(2, ["must/held", "must/never"], True))
    ack = p.decode_ack(*raw.packet(), True)
    assert (ack.kind, ack.codes) == (p.UNSUBACK, [0x00, 0x11])


@pytest.mark.statements("5:MQTT-3.1.3-9")
@pytest.mark.slow
@pytest.mark.parametrize("clean", [False, True], ids=["resume", "clean-start"])
def test_a_reconnect_before_the_will_delay_cancels_the_will(
    engine: BrokerBase, clean: bool
) -> None:
    """[MQTT-3.1.3-9]: a new connection to the session before the Will Delay Interval passed:
    the will is not sent."""
    topic = f"must/will/{uuid.uuid4().hex[:10]}"
    watcher = Raw(engine.url)
    watcher.connect(_id())
    watcher.send(p.encode_subscribe(1, [(topic, 0)], True))
    assert watcher.packet()[0] >> 4 == p.SUBACK
    client_id = _id()
    first = Raw(engine.url)
    first.connect(
        client_id,
        props={p.SESSION_EXPIRY: 60},
        will=(topic, b"gone", 0, False),
        will_props={p.WILL_DELAY: 2},
    )
    first.close()  # dropped, no DISCONNECT: the will is due in 2 s
    again = Raw(engine.url)
    again.connect(client_id, clean=clean, props={p.SESSION_EXPIRY: 60})
    # past the delay: a marker published after it comes first, or the will came
    time.sleep(3)  # pace: the will delay must pass with nothing sent
    again.send(p.encode_publish(topic, b"marker", 0, False, 0, False, True, {}))
    first_seen, body = watcher.packet()
    assert first_seen >> 4 == p.PUBLISH
    assert body.endswith(b"marker"), f"got {body!r}"


@pytest.mark.statements("3.1.1:MQTT-3.2.2-3")
def test_a_persistent_session_after_a_clean_one_is_not_present(engine: BrokerBase) -> None:
    """3.1.1 [MQTT-3.2.2-2]/[MQTT-3.2.2-3]: a connection with clean session 0 gets session
    present 0 when the previous connection of that client id used clean session 1."""
    client_id = _id()
    first = Raw(engine.url)
    assert first.connect(client_id, level=4, clean=True) == (0, False)
    first.send(p.DISCONNECT_PACKET)
    first.closes()
    second = Raw(engine.url)
    assert second.connect(client_id, level=4, clean=False) == (0, False)
    second.send(p.DISCONNECT_PACKET)
    second.closes()
    third = Raw(engine.url)
    assert third.connect(client_id, level=4, clean=False) == (0, True)


@pytest.mark.parametrize("packet", ["publish", "subscribe"])
def test_topics_deeper_than_the_limit_are_refused(embedded: BrokerBase, packet: str) -> None:
    """The specification sets no depth; the embedded broker refuses names and filters of more
    than ``max_topic_levels`` (128) levels, whose matching would cost every client (mosquitto
    accepts 65,535 levels: not asked of it)."""
    deep = "/".join(["d"] * 200)
    raw = Raw(embedded.url)
    raw.connect(_id())
    if packet == "publish":
        raw.send(p.encode_publish(deep, b"x", 1, False, 1, False, True, {}))
        assert disconnect_reason(raw.closes()) == 0x90
    else:
        raw.send(p.encode_subscribe(1, [(deep, 0)], True))
        ack = p.decode_ack(*raw.packet(), True)
        assert ack.codes == [0x8F]


def test_a_qos2_message_is_published_at_its_pubrel(engine: BrokerBase) -> None:
    """MQTT 5 section 4.3.3 lets a receiver pass a QoS 2 message on at PUBLISH or at PUBREL;
    mosquitto does at PUBREL, and so does the embedded broker: nothing goes out for a message its
    sender never released."""
    topic = f"must/qos2/{uuid.uuid4().hex[:10]}"
    sub = Raw(engine.url)
    sub.connect(_id())
    sub.send(p.encode_subscribe(1, [(topic, 2)], True))
    assert sub.packet()[0] >> 4 == p.SUBACK
    pub = Raw(engine.url)
    pub.connect(_id())
    pub.send(p.encode_publish(topic, b"held", 2, False, 5, False, True, {}))
    assert pub.packet()[0] >> 4 == p.PUBREC
    pub.send(p.encode_publish(topic, b"marker", 0, False, 0, False, True, {}))
    first, body = sub.packet()
    assert body.endswith(b"marker"), f"got {body!r} before the PUBREL"
    pub.send(p.encode_ack(p.PUBREL, 5, True))
    assert pub.packet()[0] >> 4 == p.PUBCOMP
    first, body = sub.packet()
    assert first >> 4 == p.PUBLISH
    assert body.endswith(b"held")


@pytest.mark.statements("5:MQTT-3.1.2-24")
@pytest.mark.parametrize("maximum", [5, 8])
def test_a_connack_the_client_cannot_take_is_not_sent(engine: BrokerBase, maximum: int) -> None:
    """[MQTT-3.1.2-24]: the server does not send a packet over the client's Maximum Packet
    Size; a CONNACK that does not fit cannot be sent, so the connection closes without one."""
    raw = Raw(engine.url)
    raw.send(p.encode_connect(_id(), level=5, props={p.MAXIMUM_PACKET_SIZE: maximum}))
    assert raw.closes() == []


@pytest.mark.statements("5:MQTT-3.1.3-10")
def test_a_will_is_published_with_its_properties_in_order(engine: BrokerBase) -> None:
    """MQTT 5 section 3.1.3.2 and [MQTT-3.3.2-18]: the will's properties go out with it, user
    properties in their order."""
    topic = f"must/will-props/{uuid.uuid4().hex[:10]}"
    watcher = Raw(engine.url)
    watcher.connect(_id())
    watcher.send(p.encode_subscribe(1, [(topic, 0)], True))
    assert watcher.packet()[0] >> 4 == p.SUBACK
    pairs = [("b", "2"), ("a", "1"), ("b", "3")]
    dying = Raw(engine.url)
    dying.connect(
        _id(),
        will=(topic, b"gone", 0, False),
        will_props={p.USER_PROPERTY: pairs, p.CONTENT_TYPE: "text/plain"},
    )
    dying.close()  # no DISCONNECT: the will goes out
    first, body = watcher.packet()
    will = p.decode_publish(first, body, True)
    assert will.payload == b"gone"
    assert will.props[p.USER_PROPERTY] == pairs
    assert will.props[p.CONTENT_TYPE] == "text/plain"


@pytest.mark.statements("5:MQTT-4.13.1-1")
@pytest.mark.parametrize(
    "packet",
    ["publish-session-expiry", "subscribe-message-expiry", "connect-topic-alias"],
)
def test_a_property_not_valid_for_its_packet_is_malformed(engine: BrokerBase, packet: str) -> None:
    """MQTT 5 section 2.2.2.2: each property belongs to certain packets; one elsewhere makes the
    packet malformed: DISCONNECT 0x81, or before CONNACK a close without one."""
    raw = Raw(engine.url)
    if packet == "connect-topic-alias":
        raw.send(p.encode_connect(_id(), level=5, props={p.TOPIC_ALIAS: 3}))
        assert _no_success(raw.closes())
        return
    raw.connect(_id())
    if packet == "publish-session-expiry":
        raw.send(p.encode_publish("must/p", b"x", 1, False, 1, False, True, {p.SESSION_EXPIRY: 5}))
    else:
        raw.send(p.encode_subscribe(1, [("must/#", 0)], True, {p.MESSAGE_EXPIRY: 5}))
    assert disconnect_reason(raw.closes()) == 0x81
