"""The sans-IO MQTT core, with no broker: every packet type encodes and decodes back to itself,
malformed bytes are refused with MalformedPacket (never an IndexError), and the receive path's
specialised PUBLISH reader agrees with the general decoder on the same bytes."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mqtt_surge.mqtt import codec, packets, publish, topics

TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20
)
TOPIC = TEXT.filter(lambda t: bool(t) and "+" not in t and "#" not in t)
MID = st.integers(1, 65535)
PROPS = st.fixed_dictionaries(
    {},
    optional={
        codec.MESSAGE_EXPIRY: st.integers(0, 2**32 - 1),
        codec.CONTENT_TYPE: TEXT,
        codec.CORRELATION_DATA: st.binary(max_size=16),
        codec.USER_PROPERTY: st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=3),
        codec.SUBSCRIPTION_ID: st.lists(st.integers(1, 268_435_455), min_size=1, max_size=2),
    },
)


def _split(data: bytes) -> tuple[int, bytes]:
    framed = codec.split_packet(data)
    assert framed is not None
    first, start, end = framed
    assert end == len(data)
    return first, data[start:end]


@given(st.integers(0, 268_435_455))
def test_variable_byte_integers_round_trip(n: int) -> None:
    encoded = codec.varint(n)
    assert len(encoded) <= 4
    assert codec.read_varint(encoded, 0) == (n, len(encoded))


@given(
    topic=TOPIC,
    payload=st.binary(max_size=64),
    qos=st.integers(0, 2),
    retain=st.booleans(),
    dup=st.booleans(),
    mid=MID,
    v5=st.booleans(),
    props=PROPS,
)
def test_publish_round_trips(
    topic: str,
    payload: bytes,
    qos: int,
    retain: bool,
    dup: bool,
    mid: int,
    v5: bool,
    props: dict[int, Any],
) -> None:
    props = props if v5 else {}
    data = packets.encode_publish(topic, payload, qos, retain, mid, dup, v5, props)
    first, body = _split(data)
    decoded = packets.decode_publish(first, body, v5)
    assert decoded == packets.Publish(topic, payload, qos, retain, dup, mid if qos else 0, props)


@given(
    topic=TOPIC,
    payload=st.binary(max_size=300),
    qos=st.integers(0, 2),
    mid=MID,
    v5=st.booleans(),
    retain=st.booleans(),
)
def test_a_publish_framed_from_its_prefix_is_the_encoded_one(
    topic: str, payload: bytes, qos: int, mid: int, v5: bool, retain: bool
) -> None:
    # the broker's deliveries and the load suite's raw client frame from a prefix made once
    prefix = packets.publish_prefix(topic, qos, len(payload), v5, retain)
    framed = packets.frame_publish(prefix, qos, mid, payload, v5)
    assert framed == packets.encode_publish(topic, payload, qos, retain, mid, v5=v5)


@given(topic=TOPIC, payload=st.binary(max_size=64), qos=st.integers(0, 1), mid=MID)
def test_the_receive_path_reads_a_publish_as_the_general_decoder_does(
    topic: str, payload: bytes, qos: int, mid: int
) -> None:
    data = packets.encode_publish(topic, payload, qos, False, mid)
    first, body = _split(data)
    general = packets.decode_publish(first, body, False)
    head = publish.read_head(first, body)
    assert head is not None
    t, q, r, m, start = head
    assert (t, q, r, m, body[start:]) == (
        general.topic,
        general.qos,
        general.retain,
        general.mid,
        general.payload,
    )


@given(st.binary(max_size=40), st.integers(0, 15).map(lambda q: 0x30 | q))
def test_the_receive_path_never_reads_what_the_general_decoder_refuses(
    body: bytes, first: int
) -> None:
    try:
        general = packets.decode_publish(first, body, False)
    except codec.PacketError:
        assert publish.read_head(first, body) is None
        return
    head = publish.read_head(first, body)
    if head is not None:  # else it is left to the library (QoS 2, an empty topic)
        assert head[:4] == (general.topic, general.qos, general.retain, general.mid)


@given(
    client_id=TEXT,
    level=st.sampled_from([3, 4, 5]),
    clean=st.booleans(),
    keepalive=st.integers(0, 65535),
    will=st.none() | st.tuples(TOPIC, st.binary(max_size=16), st.integers(0, 2), st.booleans()),
    username=st.none() | TEXT,
    password=st.none() | st.binary(max_size=16),
    props=st.fixed_dictionaries({}, optional={codec.SESSION_EXPIRY: st.integers(0, 2**32 - 1)}),
)
def test_connect_round_trips(
    client_id: str,
    level: int,
    clean: bool,
    keepalive: int,
    will: tuple[str, bytes, int, bool] | None,
    username: str | None,
    password: bytes | None,
    props: dict[int, Any],
) -> None:
    if level < 5 and username is None:
        password = None  # 3.1.1 has no password without a user name [MQTT-3.1.2-22]
    props = props if level == 5 else {}
    will_props = {codec.WILL_DELAY: 5} if level == 5 and will else {}
    data = packets.encode_connect(
        client_id,
        level=level,
        clean=clean,
        keepalive=keepalive,
        props=props,
        will=will,
        will_props=will_props,
        username=username,
        password=password,
    )
    first, body = _split(data)
    assert first == packets.CONNECT << 4
    decoded = packets.decode_connect(body)
    expected_will = None
    if will is not None:
        topic, payload, qos, retain = will
        expected_will = packets.Publish(topic, payload, qos, retain, False, 0, will_props)
    assert decoded == packets.Connect(
        level, clean, keepalive, props, client_id, expected_will, username, password
    )


VALID_OPTIONS = [o for o in range(0x40) if o & 3 != 3 and o & 0x30 != 0x30]


@given(
    mid=MID,
    # a QoS or Retain Handling of 3 is refused (test below)
    filters=st.lists(st.tuples(TOPIC, st.sampled_from(VALID_OPTIONS)), min_size=1, max_size=4),
    v5=st.booleans(),
)
def test_subscribe_and_unsubscribe_round_trip(
    mid: int, filters: list[tuple[str, int]], v5: bool
) -> None:
    if not v5:  # 3.1.1 options are the QoS alone [MQTT-3.8.3-4]
        filters = [(f, options & 3) for f, options in filters]
    first, body = _split(packets.encode_subscribe(mid, filters, v5))  # type: ignore[arg-type]
    assert first == 0x82  # [MQTT-3.8.1-1]: the reserved bits are 0010
    assert packets.decode_subscribe(body, v5) == packets.Subscribe(mid, {}, filters)
    names = [f for f, _ in filters]
    first, body = _split(packets.encode_unsubscribe(mid, names, v5))  # type: ignore[arg-type]
    assert first == 0xA2  # [MQTT-3.10.1-1]
    assert packets.decode_unsubscribe(body, v5).filters == [(f, 0) for f in names]


@pytest.mark.parametrize(
    ("topic_filter", "options", "v5", "error"),
    [
        ("a/b", 0x03, False, codec.MalformedPacket),  # 3.1.1 [MQTT-3.8.3-4]
        ("a/b", 0x03, True, codec.ProtocolError),  # MQTT 5 section 3.8.3.1
        ("a/b", 0x30, True, codec.ProtocolError),  # Retain Handling 3
        ("$share/g/a", 0x04, True, codec.ProtocolError),  # No Local, shared [MQTT-3.8.3-4]
        ("a/b", 0x40, True, codec.MalformedPacket),  # reserved [MQTT-3.8.3-5]
    ],
)
def test_subscription_options_the_specification_refuses(
    topic_filter: str, options: int, v5: bool, error: type[Exception]
) -> None:
    _, body = _split(packets.encode_subscribe(1, [(topic_filter, options)], v5))
    with pytest.raises(error):
        packets.decode_subscribe(body, v5)


@given(
    kind=st.sampled_from([packets.PUBACK, packets.PUBREC, packets.PUBREL, packets.PUBCOMP]),
    mid=MID,
    reason=st.sampled_from([0, 0x10, 0x80, 0x92]),
    v5=st.booleans(),
)
def test_publish_acks_round_trip(kind: int, mid: int, reason: int, v5: bool) -> None:
    first, body = _split(packets.encode_ack(kind, mid, v5, reason))
    assert packets.decode_ack(first, body, v5) == packets.Ack(kind, mid, [reason if v5 else 0], {})


@given(
    mid=MID, codes=st.lists(st.sampled_from([0, 1, 2, 0x80, 0x11]), min_size=1), v5=st.booleans()
)
def test_suback_and_unsuback_round_trip(mid: int, codes: list[int], v5: bool) -> None:
    first, body = _split(packets.encode_suback(mid, codes, v5))
    assert packets.decode_ack(first, body, v5).codes == codes
    first, body = _split(packets.encode_unsuback(mid, codes, v5))
    assert packets.decode_ack(first, body, v5).codes == (codes if v5 else [])


@given(present=st.booleans(), code=st.integers(0, 255), v5=st.booleans())
def test_connack_and_disconnect_round_trip(present: bool, code: int, v5: bool) -> None:
    props = {codec.RECEIVE_MAXIMUM: 20, codec.TOPIC_ALIAS_MAXIMUM: 10} if v5 else {}
    _, body = _split(packets.encode_connack(present, code, v5, props))
    assert packets.decode_connack(body, v5) == packets.Connack(present, code, props)
    _, body = _split(packets.encode_disconnect(code))
    assert packets.decode_disconnect(body, True).reason == code


DECODERS = {
    "connect": packets.decode_connect,
    "publish": lambda b: packets.decode_publish(0x32, b, True),
    "subscribe": lambda b: packets.decode_subscribe(b, True),
    "ack": lambda b: packets.decode_ack(0x40, b, True),
    "disconnect": lambda b: packets.decode_disconnect(b, True),
}


@pytest.mark.parametrize("name", sorted(DECODERS))
@given(body=st.binary(max_size=64))
def test_any_bytes_decode_or_raise_a_packet_error_and_nothing_else(name: str, body: bytes) -> None:
    # an IndexError, struct.error or UnicodeDecodeError escaping here fails the test
    with contextlib.suppress(codec.PacketError):
        DECODERS[name](body)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"\x00\x04MQTT\x04\x03\x00\x3c\x00\x00", "reserved flag [MQTT-3.1.2-3]"),
        (b"\x00\x04MQTT\x04\x1e\x00\x3c\x00\x00\x00\x01w\x00\x00", "will QoS 3 [MQTT-3.1.2-14]"),
        (b"\x00\x04MQTT\x04\x22\x00\x3c\x00\x00", "will retain without a will [MQTT-3.1.2-15]"),
        (b"\x00\x04MQTT\x04\x42\x00\x3c\x00\x00\x00\x01p", "password alone [MQTT-3.1.2-22]"),
        (b"\x00\x04MQTT\x04\x02\x00\x3c\x00\x05ab", "client id cut short"),
        (b"\x00\x04MQTT\x05\x02\x00\x3c\x05\x11\x00\x00\x00\x00\x00", "property length past end"),
    ],
)
def test_malformed_connects_are_refused(body: bytes, why: str) -> None:
    with pytest.raises(codec.MalformedPacket):
        packets.decode_connect(body)


def test_an_unknown_protocol_is_its_own_refusal() -> None:
    with pytest.raises(packets.UnsupportedProtocol):
        packets.decode_connect(b"\x00\x04MQTT\x06\x02\x00\x3c\x00\x00")


def test_a_fifth_length_byte_is_malformed() -> None:
    with pytest.raises(codec.MalformedPacket):
        codec.read_header(bytearray(b"\x30\xff\xff\xff\xff\x01"))


@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        ("a/#", "a", True),  # [MQTT-4.7.1-2]
        ("a/+", "a/b", True),
        ("a/+", "a/b/c", False),
        ("#", "$SYS/x", False),  # [MQTT-4.7.2-1]
        ("+/x", "$SYS/x", False),
        ("$SYS/#", "$SYS/x", True),
        ("$share/g/a/+", "a/b", True),
        ("$share/g", "a", False),
    ],
)
def test_matching(topic_filter: str, topic: str, expected: bool) -> None:
    assert topics.matches(topic_filter, topic) is expected


@pytest.mark.parametrize(
    "bad", ["", "a/#/b", "a#", "a/b+", "$share/+/a", "$share/g", "$share//a", "a\x00b"]
)
def test_invalid_filters_say_why(bad: str) -> None:
    problem = topics.filter_problem(bad)
    assert problem is not None
    assert problem
