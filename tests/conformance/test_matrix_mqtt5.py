"""The conformance matrix, what MQTT 5 adds: topic aliases, the client's Maximum Packet Size and
Request Problem Information, Receive Maximum, keepalive, forwarded properties, shared
subscriptions. Raw bytes to the embedded broker and to mosquitto, the same assertion on each.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from mqtt_surge import mqtt as p

from ._raw import Raw, disconnect_reason, kinds, persistent, publishes, unique

Make = Callable[..., Raw]
Departs = Callable[..., None]
S = pytest.mark.statements
SERVER_KEEP_ALIVE = 0x13
ACKS = (p.SUBACK, p.UNSUBACK, p.PUBACK, p.PUBREC, p.PUBREL, p.PUBCOMP)


@S("5:MQTT-3.1.2-26", "5:MQTT-3.1.2-27", "5:MQTT-3.3.2-11", "5:MQTT-3.3.2-8")
def test_the_server_keeps_its_topic_aliases_within_the_clients_maximum(raw: Make) -> None:
    base = unique("t/")
    none_allowed = raw(level=5)
    two_allowed = raw(level=5, props={p.TOPIC_ALIAS_MAXIMUM: 2})
    for r in (none_allowed, two_allowed):
        r.subscribe((base + "/+", 0))
    publisher = raw(level=5)
    topics = [f"{base}/{i % 4}" for i in range(12)]
    for topic in topics:
        publisher.publish(topic, b"m", qos=1)
    for r, most in ((none_allowed, 0), (two_allowed, 2)):
        got = [r.message() for _ in topics]
        aliases = [m.props[p.TOPIC_ALIAS] for m in got if p.TOPIC_ALIAS in m.props]
        assert all(1 <= a <= most for a in aliases), aliases


@S("5:MQTT-3.3.2-7", "5:MQTT-4.13.1-1")
def test_a_topic_alias_does_not_outlive_its_connection(raw: Make) -> None:
    client_id, topic = unique(), unique("t/")
    first = raw(level=5, client_id=client_id)
    assert first.connack.props.get(p.TOPIC_ALIAS_MAXIMUM, 0) >= 1
    first.publish(topic, b"named", qos=1, props={p.TOPIC_ALIAS: 1})
    first.publish("", b"by alias", qos=1, props={p.TOPIC_ALIAS: 1})  # works on this connection
    first.send(p.DISCONNECT_PACKET)
    assert first.closes() == []
    again = raw(level=5, client_id=client_id)
    by_alias = p.encode_publish("", b"x", 1, False, 1, False, True, {p.TOPIC_ALIAS: 1})
    packets = again.refuses(by_alias)
    assert kinds(packets) in ([], [p.DISCONNECT])
    assert disconnect_reason(packets) in (None, 0x82)


@S(
    "5:MQTT-3.1.2-29", "5:MQTT-3.2.2-19", "5:MQTT-3.2.2-20", "5:MQTT-3.4.2-2", "5:MQTT-3.4.2-3",
    "5:MQTT-3.5.2-2", "5:MQTT-3.5.2-3", "5:MQTT-3.6.2-2", "5:MQTT-3.6.2-3", "5:MQTT-3.7.2-1",
    "5:MQTT-3.7.2-2", "5:MQTT-3.7.2-3", "5:MQTT-3.9.2-1", "5:MQTT-3.9.2-2", "5:MQTT-3.11.2-1",
    "5:MQTT-3.11.2-2", "5:MQTT-3.14.2-1", "5:MQTT-3.14.2-3", "5:MQTT-3.14.2-4",
)  # fmt: skip
def test_a_small_maximum_packet_size_and_no_problem_information(raw: Make) -> None:
    """A client that takes packets of 40 bytes at most and asked for no problem information gets
    every acknowledgement whole (no Reason String, no User Property), failures included, and a
    DISCONNECT that fits."""
    limit, topic = 40, unique("t/")
    r = raw(level=5, props={p.MAXIMUM_PACKET_SIZE: limit, p.REQUEST_PROBLEM_INFO: 0})
    assert r.header_size + 2 + len(p.encode_properties(r.connack.props)) <= limit
    seen: list[tuple[int, int, bytes]] = []  # (type, size, body)

    def take(kind: int) -> bytes:
        _, body = r.expect(kind)
        seen.append((kind, r.header_size + len(body), body))
        return body

    r.send(p.encode_subscribe(1, [(topic, 2)], True))
    take(p.SUBACK)
    r.send(p.encode_unsubscribe(2, [unique("none/")], True))
    take(p.UNSUBACK)
    r.send(p.encode_publish(unique("none/"), b"x", 1, False, 3, False, True, {}))
    take(p.PUBACK)
    r.send(p.encode_publish(topic, b"x", 2, False, 4, False, True, {}))  # to itself
    take(p.PUBREC)
    r.send(p.encode_ack(p.PUBREL, 4, True))
    packets = [r.packet(), r.packet()]  # PUBCOMP and the delivery, in either order
    assert sorted(kinds(packets)) == [p.PUBLISH, p.PUBCOMP]
    delivered = next(p.decode_publish(f, b, True) for f, b in packets if f >> 4 == p.PUBLISH)
    r.send(p.encode_ack(p.PUBREC, delivered.mid, True))
    pubrel = take(p.PUBREL)
    assert p.decode_ack(p.PUBREL << 4 | 2, pubrel, True).codes == [0]
    r.send(p.encode_ack(p.PUBCOMP, delivered.mid, True))
    assert r.barrier() == []
    for kind, size, body in seen:
        assert size <= limit, (kind, size)
        props = p.decode_ack(kind << 4 | (2 if kind == p.PUBREL else 0), body, True).props
        assert not {p.REASON_STRING, p.USER_PROPERTY} & props.keys(), (kind, props)
    bad = p.encode_publish(topic, b"x", 1, False, 5, False, True, {p.SESSION_EXPIRY: 5})
    r.send(bad)
    closing = r.closes()
    assert kinds(closing) in ([], [p.DISCONNECT])
    if closing:
        assert r.header_size + len(closing[0][1]) <= limit
        assert disconnect_reason(closing) in (0x81, 0x82)


@S("5:MQTT-3.2.2-22", "5:MQTT-3.1.2-22")
def test_without_a_server_keep_alive_the_clients_keepalive_holds(raw: Make) -> None:
    """No Server Keep Alive in CONNACK: the server closes a silent connection after 1.5 times the
    client's Keep Alive, not before the Keep Alive itself (a bound only a wrong broker breaks)."""
    started = time.monotonic()
    r = raw(level=5, keepalive=1)
    keepalive = r.connack.props.get(SERVER_KEEP_ALIVE, 1)
    assert keepalive == 1
    assert kinds(r.closes(timeout=30)) in ([], [p.DISCONNECT])
    assert time.monotonic() - started >= keepalive


@S("5:MQTT-3.3.2-4", "5:MQTT-3.3.2-20")
def test_payload_format_and_content_type_are_forwarded_unaltered(raw: Make) -> None:
    topic = unique("t/")
    r = raw(level=5)
    r.subscribe((topic, 0))
    props = {p.PAYLOAD_FORMAT: 1, p.CONTENT_TYPE: "text/plain; charset=utf-8"}
    raw(level=5).publish(topic, "é".encode(), qos=1, props=props)
    got = r.message()
    assert got.props[p.PAYLOAD_FORMAT] == 1
    assert got.props[p.CONTENT_TYPE] == "text/plain; charset=utf-8"


@S("5:MQTT-1.5.7-1", "5:MQTT-4.13.1-1")
def test_a_user_property_that_is_not_utf8_is_malformed(raw: Make) -> None:
    prop = bytes((p.USER_PROPERTY,)) + p.string(b"key") + p.string(b"\xff\xfe")
    body = p.string(unique("t/")) + b"\x00\x01" + p.varint(len(prop)) + prop + b"x"
    packets = raw(level=5).refuses(p.packet(p.PUBLISH << 4 | 2, body))
    assert kinds(packets) in ([], [p.DISCONNECT])
    assert disconnect_reason(packets) in (None, 0x81)


def _over_quota(raw: Make) -> tuple[Raw, list[tuple[int, bytes]]]:
    """A client with Receive Maximum 2, five QoS 1 messages routed to it (each publish acked by
    the broker), then a SUBSCRIBE and a PINGREQ: what came before the PINGRESP."""
    topic = unique("t/")
    r = raw(level=5, props={p.RECEIVE_MAXIMUM: 2})
    r.subscribe((topic, 1))
    publisher = raw(level=5)
    for i in range(5):
        publisher.publish(topic, b"%d" % i, qos=1)
    r.send(p.encode_subscribe(r.next_mid(), [(unique("t/"), 0)], True))
    return r, r.barrier()


@S("5:MQTT-3.3.4-10", "5:MQTT-4.9.0-1", "5:MQTT-4.9.0-2", "5:MQTT-4.9.0-3")
def test_at_a_send_quota_of_0_only_publish_waits(raw: Make) -> None:
    _, first = _over_quota(raw)
    assert sorted(kinds(first)) == [p.PUBLISH, p.PUBLISH, p.SUBACK]


@S("5:MQTT-3.3.4-9", "5:MQTT-4.9.0-2")
def test_acknowledgements_free_the_quota_one_for_one(raw: Make, departs: Departs) -> None:
    departs(
        "mosquitto",
        "2.0.11 has three QoS 1 PUBLISH unacknowledged at a Receive Maximum of 2",
        "5:MQTT-3.3.4-9",
        "5:MQTT-4.9.0-2",
    )
    r, first = _over_quota(raw)
    got, acked = publishes(first, True), 0
    while len(got) < 5:
        for m in got[acked:]:
            r.send(p.encode_ack(p.PUBACK, m.mid, True))
        acked = len(got)
        batch = [r.message()]
        batch += publishes(r.barrier(), True)
        assert len(batch) <= 2  # everything received is acked: the quota is 2 again, no more
        got += batch
    assert [m.payload for m in got] == [b"0", b"1", b"2", b"3", b"4"]


def _shared(raw: Make, members: int, qos: int, **connect: object) -> tuple[list[Raw], str, str]:
    topic = unique("t/")
    shared = f"$share/{unique('g')}/{topic}"
    made = [raw(level=5, **connect) for _ in range(members)]
    for m in made:
        m.subscribe((shared, qos))
    return made, topic, shared


@S("5:MQTT-4.8.2-3")
def test_a_shared_subscriber_gets_the_qos_granted_to_it(raw: Make) -> None:
    (member,), topic, _ = _shared(raw, 1, 1)
    raw(level=5).publish(topic, b"m", qos=2)
    assert member.message().qos == 1


@S("5:MQTT-4.8.2-6")
def test_a_shared_delivery_refused_goes_to_no_other_member(raw: Make) -> None:
    members, topic, _ = _shared(raw, 2, 1)
    raw(level=5).publish(topic, b"m", qos=1)
    held = [(m, publishes(m.barrier(), True)) for m in members]
    (taker, (message,)), (other, nothing) = sorted(held, key=lambda h: -len(h[1]))
    assert nothing == []
    taker.send(p.encode_ack(p.PUBACK, message.mid, True, 0x80))
    assert publishes(other.barrier(), True) == []
    assert publishes(taker.barrier(), True) == []


@S("5:MQTT-4.8.2-4")
def test_a_shared_qos2_delivery_is_completed_when_the_member_returns(raw: Make) -> None:
    client_id = unique()
    topic = unique("t/")
    shared = f"$share/{unique('g')}/{topic}"
    member = raw(level=5, client_id=client_id, **persistent(5))
    member.subscribe((shared, 2))
    raw(level=5).publish(topic, b"m", qos=2)
    held = member.message()
    member.close()
    again = raw(level=None)
    assert again.connect(client_id, level=5, **persistent(5)) == (0, True)
    resent = again.message()
    assert (resent.payload, resent.mid, resent.dup) == (b"m", held.mid, True)


@S("5:MQTT-4.8.2-5")
def test_a_shared_delivery_whose_session_ended_goes_to_no_other_member(raw: Make) -> None:
    """The member holding the message drops with its session (expiry 0); the message is not
    passed on. A fresh connection with that member's id is the signal that the old session has
    ended."""
    topic = unique("t/")
    shared = f"$share/{unique('g')}/{topic}"
    ids = [unique(), unique()]
    members = [raw(level=5, client_id=i) for i in ids]
    for m in members:
        m.subscribe((shared, 1))
    raw(level=5).publish(topic, b"m", qos=1)
    held = [publishes(m.barrier(), True) for m in members]
    taker = 0 if held[0] else 1
    assert len(held[taker]) == 1
    assert held[1 - taker] == []
    members[taker].close()
    raw(level=5, client_id=ids[taker])
    assert publishes(members[1 - taker].barrier(), True) == []
