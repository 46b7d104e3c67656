"""The conformance matrix, messages: packet identifiers, the QoS flows in both directions, resends,
retained messages, subscriptions and their options, topic rules, ordering. Raw bytes to the
embedded broker and to mosquitto, the same assertion on each; each test cites its statements.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from mqtt_surge import mqtt as p

from ._raw import Closed, Raw, disconnect_reason, kinds, persistent, publishes, unique

Make = Callable[..., Raw]
Departs = Callable[..., None]
LEVELS = pytest.mark.parametrize("level", [4, 5], ids=["3.1.1", "5"])
S = pytest.mark.statements
NO_LOCAL = 0x04  # subscription option bit 2


@LEVELS
@S(
    "3.1.1:MQTT-2.3.1-6", "3.1.1:MQTT-2.3.1-7", "3.1.1:MQTT-3.3.4-1", "3.1.1:MQTT-3.8.4-2",
    "3.1.1:MQTT-3.10.4-4", "3.1.1:MQTT-3.10.4-5", "3.1.1:MQTT-4.3.2-2", "3.1.1:MQTT-4.3.3-2",
    "5:MQTT-2.2.1-5", "5:MQTT-2.2.1-6", "5:MQTT-3.3.4-1", "5:MQTT-3.8.4-2", "5:MQTT-3.10.4-4",
    "5:MQTT-3.10.4-5", "5:MQTT-4.3.2-4", "5:MQTT-4.3.3-8", "5:MQTT-4.3.3-11", "5:MQTT-2.2.2-1",
)  # fmt: skip
def test_acknowledgements_carry_the_packet_id(raw: Make, level: int) -> None:
    r = raw(level=level)
    v5 = level == 5
    topic = unique("t/")
    r.send(p.encode_publish(topic, b"1", 1, False, 4242, False, v5, {}))
    assert p.decode_ack(*r.expect(p.PUBACK), v5).mid == 4242
    r.send(p.encode_publish(topic, b"2", 2, False, 777, False, v5, {}))
    assert p.decode_ack(*r.expect(p.PUBREC), v5).mid == 777
    r.send(p.encode_ack(p.PUBREL, 777, v5))
    assert p.decode_ack(*r.expect(p.PUBCOMP), v5).mid == 777
    r.send(p.encode_subscribe(99, [(topic, 0)], v5))
    assert p.decode_ack(*r.expect(p.SUBACK), v5) == (p.SUBACK, 99, [0], {})
    r.send(p.encode_unsubscribe(98, [unique("never/")], v5))  # nothing to delete: still acked
    assert p.decode_ack(*r.expect(p.UNSUBACK), v5).mid == 98


@LEVELS
@S(
    "3.1.1:MQTT-2.3.1-1", "3.1.1:MQTT-2.3.1-4", "3.1.1:MQTT-2.3.1-5", "3.1.1:MQTT-3.3.1-2",
    "3.1.1:MQTT-3.3.1-3", "3.1.1:MQTT-3.3.2-1", "3.1.1:MQTT-3.3.2-3", "3.1.1:MQTT-4.3.1-1",
    "3.1.1:MQTT-4.3.2-1", "3.1.1:MQTT-4.3.3-1", "5:MQTT-2.2.1-2", "5:MQTT-2.2.1-4",
    "5:MQTT-3.3.1-2", "5:MQTT-3.3.1-3", "5:MQTT-3.3.2-1", "5:MQTT-3.3.2-3", "5:MQTT-4.3.1-1",
    "5:MQTT-4.3.2-1", "5:MQTT-4.3.2-2", "5:MQTT-4.3.3-1", "5:MQTT-4.3.3-2", "5:MQTT-4.3.3-4",
    "5:MQTT-3.6.2-1", "5:MQTT-4.5.0-1", "3.1.1:MQTT-4.5.0-1",
)  # fmt: skip
def test_the_servers_publish_packets(raw: Make, level: int) -> None:
    """QoS 0 without a packet id and DUP 0; QoS 1 and 2 with unused non-zero ids and DUP 0, even
    when the publisher's copy had DUP 1; the QoS 2 flow from the server's side."""
    v5 = level == 5
    base = unique("t/")
    subscriber = raw(level=level)
    subscriber.subscribe((base + "/+", 2))
    publisher = raw(level=level)
    publisher.publish(base + "/a", b"zero", qos=0)
    publisher.send(p.encode_publish(base + "/b", b"one", 1, False, 3, True, v5, {}))  # DUP 1
    publisher.expect(p.PUBACK)
    publisher.publish(base + "/c", b"two", qos=2)
    got = [subscriber.message() for _ in range(3)]
    assert [(m.topic, m.payload, m.qos, m.dup) for m in got] == [
        (base + "/a", b"zero", 0, False),  # a packet id would have shifted the payload
        (base + "/b", b"one", 1, False),
        (base + "/c", b"two", 2, False),
    ]
    ids = [got[1].mid, got[2].mid]
    assert 0 not in ids
    assert len(set(ids)) == 2  # both unacknowledged at once: different ids
    subscriber.send(p.encode_ack(p.PUBACK, ids[0], v5) + p.encode_ack(p.PUBREC, ids[1], v5))
    pubrel = p.decode_ack(*subscriber.expect(p.PUBREL), v5)
    assert (pubrel.mid, pubrel.codes) == (ids[1], [0])
    subscriber.send(p.encode_ack(p.PUBCOMP, ids[1], v5))
    assert subscriber.barrier() == []


@LEVELS
@S("3.1.1:MQTT-4.3.2-2", "5:MQTT-4.3.2-5")
def test_a_qos1_packet_id_after_its_puback_is_a_new_message(raw: Make, level: int) -> None:
    v5, topic = level == 5, unique("t/")
    subscriber = raw(level=level)
    subscriber.subscribe((topic, 1))
    publisher = raw(level=level)
    for payload, dup in ((b"a", False), (b"b", True)):
        publisher.send(p.encode_publish(topic, payload, 1, False, 5, dup, v5, {}))
        publisher.expect(p.PUBACK)
    assert [subscriber.message().payload for _ in range(2)] == [b"a", b"b"]


@LEVELS
@S(
    "3.1.1:MQTT-4.3.3-2", "5:MQTT-4.3.3-8", "5:MQTT-4.3.3-10", "5:MQTT-4.3.3-11",
    "5:MQTT-4.3.3-12",
)  # fmt: skip
def test_a_qos2_duplicate_is_acknowledged_not_delivered_again(raw: Make, level: int) -> None:
    v5, topic = level == 5, unique("t/")
    subscriber = raw(level=level)
    subscriber.subscribe((topic, 0))
    publisher = raw(level=level)
    for payload in (b"a", b"b"):  # the same packet id twice: after PUBCOMP it is a new message
        publisher.send(p.encode_publish(topic, payload, 2, False, 9, False, v5, {}))
        publisher.expect(p.PUBREC)
        publisher.send(p.encode_publish(topic, payload, 2, False, 9, True, v5, {}))  # resend
        assert p.decode_ack(*publisher.expect(p.PUBREC), v5).mid == 9
        publisher.send(p.encode_ack(p.PUBREL, 9, v5))
        assert p.decode_ack(*publisher.expect(p.PUBCOMP), v5).mid == 9
    got = [m.payload for m in publishes(subscriber.barrier(), v5)]
    got += [subscriber.message().payload for _ in range(2 - len(got))]
    assert got == [b"a", b"b"]
    assert publishes(subscriber.barrier(), v5) == []


def _hold(raw: Make, level: int, qos: int, **publish: object) -> tuple[Raw, str, str, p.Publish]:
    """A persistent subscriber holding one QoS ``qos`` message it has not acknowledged."""
    client_id, topic = unique(), unique("t/")
    subscriber = raw(level=level, client_id=client_id, **persistent(level))
    subscriber.subscribe((topic, qos))
    raw(level=level).publish(topic, b"held", qos=qos, **publish)  # type: ignore[arg-type]
    return subscriber, client_id, topic, subscriber.message()


@LEVELS
@pytest.mark.parametrize("qos", [1, 2])
@S(
    "3.1.1:MQTT-3.3.1-1", "3.1.1:MQTT-4.4.0-1", "3.1.1:MQTT-2.3.1-4", "3.1.1:MQTT-4.3.2-1",
    "3.1.1:MQTT-4.3.3-1", "3.1.1:MQTT-3.1.2-5", "5:MQTT-3.3.1-1", "5:MQTT-4.4.0-1",
    "5:MQTT-4.3.2-3", "5:MQTT-4.3.3-3",
)  # fmt: skip
def test_an_unacknowledged_publish_is_resent_on_resumption(raw: Make, level: int, qos: int) -> None:
    subscriber, client_id, _, first = _hold(raw, level, qos)
    subscriber.close()
    again = raw(level=None)
    assert again.connect(client_id, level=level, **persistent(level)) == (0, True)
    resent = again.message()
    assert (resent.payload, resent.mid, resent.dup, resent.qos) == (b"held", first.mid, True, qos)


@LEVELS
@S("3.1.1:MQTT-4.4.0-1", "3.1.1:MQTT-4.3.3-1", "5:MQTT-4.3.3-5", "5:MQTT-4.3.3-6", "5:MQTT-4.4.0-1")
def test_after_pubrec_the_pubrel_is_resent_not_the_publish(raw: Make, level: int) -> None:
    v5 = level == 5
    subscriber, client_id, _, held = _hold(raw, level, 2)
    subscriber.send(p.encode_ack(p.PUBREC, held.mid, v5))
    subscriber.expect(p.PUBREL)
    subscriber.close()  # no PUBCOMP
    again = raw(level=None)
    assert again.connect(client_id, level=level, **persistent(level)) == (0, True)
    assert p.decode_ack(*again.expect(p.PUBREL), v5).mid == held.mid
    again.send(p.encode_ack(p.PUBCOMP, held.mid, v5))
    assert again.barrier() == []


@pytest.mark.parametrize("qos", [1, 2])
@S("5:MQTT-4.4.0-2")
def test_a_delivery_the_client_refused_is_never_resent(raw: Make, qos: int) -> None:
    subscriber, client_id, _, held = _hold(raw, 5, qos)
    subscriber.send(p.encode_ack(p.PUBACK if qos == 1 else p.PUBREC, held.mid, True, 0x80))
    assert subscriber.barrier() == []  # no PUBREL either
    subscriber.close()
    again = raw(level=None)
    assert again.connect(client_id, level=5, **persistent(5)) == (0, True)
    assert again.barrier() == []


EXPIRY_WAIT = 2.2  # the messages below expire after 1 s; no signal says that time has passed


@S("5:MQTT-4.3.3-13")
def test_message_expiry_does_not_cut_a_publishers_qos2_flow(raw: Make) -> None:
    publisher = raw(level=5)
    props = {p.MESSAGE_EXPIRY: 1}
    publisher.send(p.encode_publish(unique("t/"), b"late", 2, False, 11, False, True, props))
    publisher.expect(p.PUBREC)
    time.sleep(EXPIRY_WAIT)
    publisher.send(p.encode_ack(p.PUBREL, 11, True))
    assert p.decode_ack(*publisher.expect(p.PUBCOMP), True).codes == [0]


@S("5:MQTT-4.3.3-7", "5:MQTT-3.3.1-1")
def test_a_qos2_publish_already_sent_is_resent_after_its_expiry(
    raw: Make, departs: Departs
) -> None:
    """Expiry applies to a message waiting, not to a flow under way."""
    departs(
        "mosquitto",
        "2.0.11 drops an expired QoS 2 message it had sent, instead of resending it",
        "5:MQTT-4.3.3-7",
    )
    subscriber, client_id, _, held = _hold(raw, 5, 2, props={p.MESSAGE_EXPIRY: 1})
    subscriber.close()
    time.sleep(EXPIRY_WAIT)
    again = raw(level=None)
    assert again.connect(client_id, level=5, **persistent(5)) == (0, True)
    resent = publishes(again.barrier(), True)  # resent right after CONNACK, if at all
    assert [(m.payload, m.mid, m.dup) for m in resent] == [(b"held", held.mid, True)]


@LEVELS
@S(
    "3.1.1:MQTT-3.3.1-5", "3.1.1:MQTT-3.3.1-7", "3.1.1:MQTT-3.3.1-8", "3.1.1:MQTT-3.3.1-9",
    "3.1.1:MQTT-3.3.1-10", "3.1.1:MQTT-3.3.1-11", "3.1.1:MQTT-3.3.1-12", "5:MQTT-3.3.1-5",
    "5:MQTT-3.3.1-6", "5:MQTT-3.3.1-7", "5:MQTT-3.3.1-8", "5:MQTT-3.3.1-12",
)  # fmt: skip
def test_retained_messages_stored_replaced_and_removed(raw: Make, level: int) -> None:
    v5, topic = level == 5, unique("t/")
    publisher = raw(level=level)
    publisher.publish(topic, b"1", qos=1, retain=True)
    publisher.publish(topic, b"2", qos=0, retain=True)  # replaces, QoS 0 too
    publisher.publish(topic, b"3", qos=1)  # not retained: replaces nothing
    first = raw(level=level)
    first.subscribe((topic, 1))
    kept = first.message()
    assert (kept.payload, kept.retain, kept.qos) == (b"2", True, 0)
    publisher.publish(topic, b"4", qos=1, retain=True)
    live = first.message()
    assert (live.payload, live.retain) == (b"4", False)  # established subscription: RETAIN 0
    publisher.publish(topic, b"", qos=1, retain=True)  # removes; delivered as any message
    assert first.message().payload == b""
    second = raw(level=level)
    second.subscribe((topic, 1))
    assert publishes(second.barrier(), v5) == []


@S(
    "5:MQTT-3.3.1-9", "5:MQTT-3.3.1-10", "5:MQTT-3.3.1-11", "5:MQTT-3.8.4-3", "5:MQTT-3.8.4-4",
)  # fmt: skip
def test_retain_handling(raw: Make) -> None:
    topic = unique("t/")
    raw(level=5).publish(topic, b"r", qos=1, retain=True)
    r = raw(level=5)
    r.subscribe((topic, 1 | 1 << 4))  # Retain Handling 1, new subscription: sent
    assert r.message().payload == b"r"
    r.subscribe((topic, 1 | 1 << 4))  # 1 again, the subscription exists: not sent
    assert publishes(r.barrier(), True) == []
    r.subscribe((topic, 1))  # 0: sent again on the replaced subscription
    assert r.message().payload == b"r"
    other = raw(level=5)
    other.subscribe((topic, 1 | 2 << 4))  # 2: never
    assert publishes(other.barrier(), True) == []


@LEVELS
@S("3.1.1:MQTT-3.8.4-3", "5:MQTT-3.8.4-3")
def test_subscribing_again_replaces_the_subscription(raw: Make, level: int) -> None:
    topic = unique("t/")
    r = raw(level=level)
    r.subscribe((topic, 0))
    assert r.subscribe((topic, 1)) == [1]
    raw(level=level).publish(topic, b"once", qos=1)
    got = [r.message(), *publishes(r.barrier(), level == 5)]  # the one copy, then nothing
    assert [(m.payload, m.qos) for m in got] == [(b"once", 1)]


@LEVELS
@S(
    "3.1.1:MQTT-3.8.4-4", "3.1.1:MQTT-3.8.4-5", "3.1.1:MQTT-3.9.3-1", "3.1.1:MQTT-3.9.3-2",
    "3.1.1:MQTT-3.8.4-6", "3.1.1:MQTT-3.8.3-2", "5:MQTT-3.8.4-5", "5:MQTT-3.8.4-6",
    "5:MQTT-3.8.4-7", "5:MQTT-3.9.3-1", "5:MQTT-3.9.3-2", "5:MQTT-3.8.4-8",
)  # fmt: skip
def test_several_filters_in_one_subscribe(raw: Make, level: int) -> None:
    base = unique("t/")
    r = raw(level=level)
    assert r.subscribe((base + "/a", 2), (base + "/+/b", 0), (base + "/c/#", 1)) == [2, 0, 1]
    publisher = raw(level=level)
    for topic in (base + "/a", base + "/x/b", base + "/c/d/e"):
        publisher.publish(topic, b"m", qos=2)
    got = [r.message() for _ in range(3)]
    assert [(m.topic, m.qos) for m in got] == [
        (base + "/a", 2),
        (base + "/x/b", 0),
        (base + "/c/d/e", 1),
    ]
    for m in got:
        if m.qos == 1:
            r.send(p.encode_ack(p.PUBACK, m.mid, level == 5))
        elif m.qos == 2:
            r.send(p.encode_ack(p.PUBREC, m.mid, level == 5))
            r.expect(p.PUBREL)
            r.send(p.encode_ack(p.PUBCOMP, m.mid, level == 5))


BAD_FILTERS = {
    "hash-not-last": ("t/#/x", ("3.1.1:MQTT-4.7.1-2", "5:MQTT-4.7.1-1")),
    "hash-in-a-level": ("t/a#", ("3.1.1:MQTT-4.7.1-2", "5:MQTT-4.7.1-1")),
    "plus-in-a-level": ("t/a+/x", ("3.1.1:MQTT-4.7.1-3", "5:MQTT-4.7.1-2")),
    "empty": ("", ("3.1.1:MQTT-4.7.3-1", "5:MQTT-4.7.3-1")),
    "nul": ("t/a\x00b", ("3.1.1:MQTT-4.7.3-2", "3.1.1:MQTT-1.5.3-2", "5:MQTT-4.7.3-2")),
    "share-name-empty": ("$share//t", ("5:MQTT-4.8.2-1",)),
    "share-without-filter": ("$share/g", ("5:MQTT-4.8.2-2",)),
    "share-name-wildcard": ("$share/g+/t", ("5:MQTT-4.8.2-2",)),
}


@pytest.mark.parametrize(
    ("level", "case"),
    [
        pytest.param(level, k, marks=S(*v[1]), id=f"{k}-{'5' if level == 5 else '3.1.1'}")
        for k, v in BAD_FILTERS.items()
        for level in (4, 5)
        if level == 5 or not v[0].startswith("$share")  # 3.1.1: '$share/...' is a plain filter
    ],
)
def test_a_filter_that_breaks_the_rules_is_refused(
    raw: Make, level: int, case: str, departs: Departs
) -> None:
    """Refused: a SUBACK failure code for it (0x80, MQTT 5 0x8F) or the connection closed as
    malformed; never granted."""
    bad = BAD_FILTERS[case][0]
    if case in ("share-name-empty", "share-without-filter"):
        departs("mosquitto", f"2.0.11 grants the shared filter {bad!r}", *BAD_FILTERS[case][1])
    r = raw(level=level)
    r.send(p.encode_subscribe(1, [(bad, 0)], level == 5))
    try:
        first, body = r.packet()
    except Closed:
        return
    if first >> 4 == p.SUBACK:
        assert p.decode_ack(first, body, level == 5).codes[0] >= 0x80
    else:
        assert first >> 4 == p.DISCONNECT
        assert r.closes() == []


@S("5:MQTT-3.8.3-4", "5:MQTT-4.13.1-1")
def test_no_local_on_a_shared_subscription_is_a_protocol_error(raw: Make, departs: Departs) -> None:
    departs("mosquitto", "2.0.11 grants a shared subscription with No Local", "5:MQTT-3.8.3-4")
    packets = raw(level=5).refuses(
        p.encode_subscribe(1, [(f"$share/g/{unique('t/')}", NO_LOCAL)], True)
    )
    assert set(kinds(packets)) <= {p.DISCONNECT}
    assert disconnect_reason(packets) in (None, 0x82)


@LEVELS
@pytest.mark.parametrize(
    "bits", [0x40, 0x80, 0x03, 0x30], ids=["bit6", "bit7", "qos3", "retain-handling-3"]
)
@S("3.1.1:MQTT-3.8.3-4", "5:MQTT-3.8.3-5", "5:MQTT-4.13.1-1")
def test_reserved_subscription_option_bits_are_malformed(raw: Make, level: int, bits: int) -> None:
    """Reserved bits: malformed (0x81); MQTT 5 section 3.8.3.1 calls a QoS or a Retain Handling of
    3 a protocol error (0x82); in 3.1.1 bits 2-7 are all reserved."""
    packets = raw(level=level).refuses(p.encode_subscribe(1, [(unique("t/"), bits)], level == 5))
    assert set(kinds(packets)) <= ({p.DISCONNECT} if level == 5 else set())
    assert disconnect_reason(packets) in ((None, 0x81) if bits & 0xC0 else (None, 0x81, 0x82))


FLAGS = {  # packet -> (bytes with wrong fixed-header flags, statements)
    "publish-qos3": (
        p.packet(0x36, p.string("t/q") + b"\x00\x01"),
        ("3.1.1:MQTT-3.3.1-4", "5:MQTT-3.3.1-4"),
    ),
    "pubrel": (bytes((0x60, 2, 0, 1)), ("3.1.1:MQTT-3.6.1-1", "5:MQTT-3.6.1-1")),
    "subscribe": (
        p.packet(0x80, b"\x00\x01" + p.string("t/s") + b"\x00"),
        ("3.1.1:MQTT-3.8.1-1", "5:MQTT-3.8.1-1"),
    ),
    "unsubscribe": (
        p.packet(0xA0, b"\x00\x01" + p.string("t/s")),
        ("3.1.1:MQTT-3.10.1-1", "5:MQTT-3.10.1-1"),
    ),
    "pingreq": (bytes((0xC1, 0)), ("3.1.1:MQTT-2.2.2-1", "3.1.1:MQTT-2.2.2-2", "5:MQTT-2.1.3-1")),
    "puback": (bytes((0x42, 2, 0, 1)), ("3.1.1:MQTT-2.2.2-2", "5:MQTT-2.1.3-1")),
}


@LEVELS
@pytest.mark.parametrize("case", [pytest.param(k, marks=S(*v[1]), id=k) for k, v in FLAGS.items()])
def test_wrong_fixed_header_flags_close_the_connection(
    raw: Make, level: int, case: str, departs: Departs
) -> None:
    if case in ("pingreq", "puback"):
        departs(
            "mosquitto", f"2.0.11 takes a {case.upper()} with reserved flag bits", *FLAGS[case][1]
        )
    data = FLAGS[case][0]
    if level == 5 and case in ("subscribe", "unsubscribe"):
        data = data[:1] + bytes((data[1] + 1,)) + data[2:4] + b"\x00" + data[4:]  # properties
    r = raw(level=level)
    packets = r.refuses(data)
    assert set(kinds(packets)) <= ({p.DISCONNECT} if level == 5 else set())
    assert disconnect_reason(packets) in (None, 0x81)


WILDCARD_IN_NAME = (
    "3.1.1:MQTT-3.3.2-2",
    "3.1.1:MQTT-4.7.1-1",
    "5:MQTT-3.3.2-2",
    "5:MQTT-4.7.0-1",
)
BAD_TOPICS = {
    "plus": ("t/+", WILDCARD_IN_NAME),
    "hash": ("t/#", WILDCARD_IN_NAME),
    "empty": ("", ("3.1.1:MQTT-4.7.3-1", "5:MQTT-4.7.3-1")),
    "nul": ("t/a\x00b", ("3.1.1:MQTT-4.7.3-2", "3.1.1:MQTT-1.5.3-2", "5:MQTT-4.7.3-2")),
}


@LEVELS
@pytest.mark.parametrize(
    "case",
    [pytest.param(k, marks=S(*v[1], "3.1.1:MQTT-4.8.0-1"), id=k) for k, v in BAD_TOPICS.items()],
)
def test_a_publish_to_a_topic_that_breaks_the_rules_closes(
    raw: Make, level: int, case: str
) -> None:
    bad = p.encode_publish(BAD_TOPICS[case][0], b"x", 1, False, 1, False, level == 5, {})
    packets = raw(level=level).refuses(bad)
    assert set(kinds(packets)) <= ({p.DISCONNECT} if level == 5 else set())


@LEVELS
@S("3.1.1:MQTT-4.7.3-4", "3.1.1:MQTT-1.5.3-3", "5:MQTT-4.7.3-4", "5:MQTT-1.5.4-3")
def test_topics_match_byte_for_byte(raw: Make, level: int) -> None:
    """No normalisation: 'é' composed does not match 'e' + combining acute, case matters, and a
    U+FEFF stays where it was."""
    base = unique("t/")
    composed, decomposed, bom = base + "/caf\u00e9", base + "/cafe\u0301", base + "/\ufeffx"
    r = raw(level=level)
    r.subscribe((composed, 0), (base + "/A", 0), (bom, 0))
    publisher = raw(level=level)
    for topic in (decomposed, base + "/a", base + "/x", composed, bom):
        publisher.publish(topic, b"m", qos=1)
    got = [r.message().topic for _ in range(2)]
    assert got == [composed, bom]
    assert publishes(r.barrier(), level == 5) == []


@LEVELS
@S(
    "3.1.1:MQTT-3.10.4-1", "3.1.1:MQTT-3.10.4-2", "3.1.1:MQTT-3.10.4-6", "5:MQTT-3.10.4-1",
    "5:MQTT-3.10.4-2", "5:MQTT-3.10.4-6", "5:MQTT-3.11.3-1", "5:MQTT-3.11.3-2",
)  # fmt: skip
def test_unsubscribe_compares_filters_character_by_character(raw: Make, level: int) -> None:
    base = unique("t/")
    r = raw(level=level)
    r.subscribe((base + "/+", 1))
    publisher = raw(level=level)
    assert r.unsubscribe(base + "/a") == ([0x11] if level == 5 else [])  # not the same filter
    publisher.publish(base + "/a", b"still", qos=1)
    assert r.message().payload == b"still"
    codes = r.unsubscribe(base + "/zz", base + "/+")  # one UNSUBACK, codes in order
    assert codes == ([0x11, 0x00] if level == 5 else [])
    publisher.publish(base + "/a", b"gone", qos=1)
    assert [m.payload for m in publishes(r.barrier(), level == 5)] == []


@LEVELS
@pytest.mark.parametrize("qos", [1, 2])
@S("3.1.1:MQTT-3.10.4-3", "5:MQTT-3.10.4-3")
def test_unsubscribing_completes_deliveries_under_way(raw: Make, level: int, qos: int) -> None:
    v5, topic = level == 5, unique("t/")
    r = raw(level=level)
    r.subscribe((topic, qos))
    raw(level=level).publish(topic, b"m", qos=qos)
    held = r.message()
    r.unsubscribe(topic)
    if qos == 2:
        r.send(p.encode_ack(p.PUBREC, held.mid, v5))
        assert p.decode_ack(*r.expect(p.PUBREL), v5).mid == held.mid
        r.send(p.encode_ack(p.PUBCOMP, held.mid, v5))
    else:
        r.send(p.encode_ack(p.PUBACK, held.mid, v5))
    assert r.barrier() == []


@LEVELS
@S(
    "3.1.1:MQTT-3.3.5-1", "5:MQTT-3.3.4-2", "5:MQTT-3.3.4-3", "5:MQTT-3.3.4-4", "5:MQTT-3.3.4-5",
)  # fmt: skip
def test_overlapping_subscriptions(raw: Make, level: int) -> None:
    """One copy at the highest QoS with every identifier, or a copy per subscription with its
    own: either way the highest QoS is there."""
    v5, base = level == 5, unique("t/")
    r = raw(level=level)
    if v5:
        r.subscribe((base + "/#", 0), props={p.SUBSCRIPTION_ID: [1]})
        r.subscribe((base + "/a", 2), props={p.SUBSCRIPTION_ID: [2]})
    else:
        r.subscribe((base + "/#", 0), (base + "/a", 2))
    raw(level=level).publish(base + "/a", b"m", qos=2)
    copies = [r.message()]
    copies += publishes(r.barrier(), v5)
    assert max(m.qos for m in copies) == 2
    assert len(copies) in (1, 2)
    if v5:
        ids = [sorted(_ids(m)) for m in copies]
        assert sorted(ids) == ([[1, 2]] if len(copies) == 1 else [[1], [2]])


def _ids(message: p.Publish) -> list[int]:
    value = message.props.get(p.SUBSCRIPTION_ID, [])
    return list(value) if isinstance(value, list) else [value]


@LEVELS
@S("3.1.1:MQTT-4.6.0-5", "3.1.1:MQTT-4.6.0-6", "5:MQTT-4.6.0-5", "5:MQTT-4.6.0-6")
def test_a_topics_messages_arrive_in_the_order_sent(raw: Make, level: int) -> None:
    topic = unique("t/")
    r = raw(level=level)
    r.subscribe((topic, 1))
    publisher = raw(level=level)
    for i in range(10):
        publisher.publish(topic, b"%d" % i, qos=1)
    got = []
    for _ in range(10):
        m = r.message()
        got.append(int(m.payload))
        r.send(p.encode_ack(p.PUBACK, m.mid, level == 5))
    assert got == list(range(10))


@LEVELS
@pytest.mark.parametrize("kind", [p.SUBSCRIBE, p.UNSUBSCRIBE], ids=["subscribe", "unsubscribe"])
@pytest.mark.parametrize("case", ["packet-id-0", "no-filter"])
@S(
    "3.1.1:MQTT-2.3.1-1", "3.1.1:MQTT-3.8.3-3", "3.1.1:MQTT-3.10.3-2", "5:MQTT-3.8.3-2",
    "5:MQTT-3.10.3-2", "5:MQTT-4.13.1-1",
)  # fmt: skip
def test_a_subscribe_or_unsubscribe_without_id_or_filter_closes(
    raw: Make, level: int, kind: int, case: str
) -> None:
    mid = b"\x00\x00" if case == "packet-id-0" else b"\x00\x07"
    body = mid + (b"\x00" if level == 5 else b"")
    if case == "packet-id-0":
        body += p.string("t/x") + (b"\x00" if kind == p.SUBSCRIBE else b"")
    packets = raw(level=level).refuses(p.packet(kind << 4 | 2, body))
    assert set(kinds(packets)) <= ({p.DISCONNECT} if level == 5 else set())
    assert disconnect_reason(packets) in (None, 0x81, 0x82)
