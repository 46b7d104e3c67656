"""The conformance matrix, connections and sessions: CONNECT and CONNACK, client identifiers,
clean start, wills, takeover, DISCONNECT. Raw bytes from the MQTT core to the embedded broker and
to mosquitto, the same assertion on each; each test cites the statements it checks (3.1.1 and
5.0 number differently, hence the version before each number).

"Nothing arrived" is checked with :meth:`Raw.barrier` (a PINGREQ answered in order), never a sleep.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mqtt_surge import mqtt as p

from ._raw import Raw, disconnect_reason, kinds, persistent, publishes, unique

Make = Callable[..., Raw]
LEVELS = pytest.mark.parametrize("level", [4, 5], ids=["3.1.1", "5"])
S = pytest.mark.statements


def _refused(packets: list[tuple[int, bytes]], v5: bool) -> None:
    """What a refused CONNECT may get before the close: at most one CONNACK, never success, session
    present 0, and no DISCONNECT before a successful CONNACK ([MQTT-3.14.0-1])."""
    assert p.DISCONNECT not in kinds(packets)
    acks = [p.decode_connack(body, v5) for first, body in packets if first >> 4 == p.CONNACK]
    assert len(acks) <= 1
    for ack in acks:
        assert ack.code != 0
        assert not ack.session_present


def _connect_bytes(
    level: int, *, flags_or: int = 0, flags_and: int = 0xFF, tail: bytes = b""
) -> bytes:
    """A CONNECT whose flags byte and payload the case bends."""
    data = p.encode_connect(unique(), level=level)
    first, start, end = p.split_packet(data) or (0, 0, 0)
    body = bytearray(data[start:end])
    flags_at = 2 + 4 + 1  # protocol name, level
    body[flags_at] = (body[flags_at] | flags_or) & flags_and
    return p.packet(first, bytes(body) + tail)


@LEVELS
@S(
    "3.1.1:MQTT-3.2.0-1", "3.1.1:MQTT-3.1.4-4", "3.1.1:MQTT-3.1.0-2", "3.1.1:MQTT-4.8.0-1",
    "3.1.1:MQTT-3.8.4-1", "3.1.1:MQTT-3.12.4-1", "5:MQTT-3.2.0-1", "5:MQTT-3.2.0-2",
    "5:MQTT-3.2.2-1", "5:MQTT-3.1.4-5", "5:MQTT-3.1.0-2", "5:MQTT-3.8.4-1", "5:MQTT-3.12.4-1",
    "5:MQTT-4.13.1-1",
)  # fmt: skip
def test_connack_comes_first_and_once(raw: Make, level: int) -> None:
    r = raw(level=None)
    r.level = level
    r.send(
        p.encode_connect(unique(), level=level)
        + p.encode_subscribe(1, [(unique("t/"), 0)], level == 5)
        + p.PINGREQ_PACKET
    )
    first, body = r.packet()
    assert first == p.CONNACK << 4
    assert body[0] & 0xFE == 0  # flag bits 7-1
    assert body[1] == 0
    assert kinds([r.packet(), r.packet()]) == [p.SUBACK, p.PINGRESP]
    assert set(kinds(r.refuses(p.encode_connect(unique(), level=level)))) <= {p.DISCONNECT}


@LEVELS
@S("3.1.1:MQTT-3.1.2-1", "5:MQTT-3.1.2-1", "5:MQTT-3.2.2-7", "5:MQTT-4.13.2-1")
def test_a_protocol_name_other_than_mqtt_is_refused(raw: Make, level: int) -> None:
    data = p.encode_connect(unique(), level=level).replace(b"\x00\x04MQTT", b"\x00\x04MQTX", 1)
    r = raw(level=None)
    _refused(r.refuses(data), level == 5)


@S(
    "3.1.1:MQTT-3.1.2-2", "3.1.1:MQTT-3.2.2-4", "3.1.1:MQTT-3.2.2-5", "5:MQTT-3.1.2-2",
    "5:MQTT-3.2.2-6", "5:MQTT-3.2.2-7", "5:MQTT-3.2.2-8",
)  # fmt: skip
def test_an_unsupported_protocol_level_gets_connack_0x01_then_close(raw: Make) -> None:
    """Level 7 is no version either engine speaks: the 3.1.1 answer, return code 0x01 (0x84 is the
    same refusal in MQTT 5's words), session present 0, then the close."""
    data = p.encode_connect(unique(), level=4).replace(b"MQTT\x04", b"MQTT\x07", 1)
    packets = raw(level=None).refuses(data)
    assert kinds(packets) == [p.CONNACK]
    assert packets[0][1][0] == 0
    assert packets[0][1][1] in (0x01, 0x84)


@LEVELS
@S(
    "3.1.1:MQTT-3.1.2-3", "3.1.1:MQTT-3.1.4-1", "3.1.1:MQTT-3.2.2-6", "5:MQTT-3.1.2-3",
    "5:MQTT-3.1.4-1", "5:MQTT-3.14.0-1",
)  # fmt: skip
def test_the_connect_reserved_flag_must_be_0(raw: Make, level: int) -> None:
    packets = raw(level=None).refuses(_connect_bytes(level, flags_or=0x01))
    _refused(packets, level == 5)
    if level == 4:  # 3.1.1 has no return code for a malformed CONNECT: close without CONNACK
        assert packets == []


def _will(level: int) -> bytes:
    props = b"\x00" if level == 5 else b""
    return props + p.string("w/" + unique()) + p.string(b"bye")


CONNECT_CASES = {
    # name: (flags to set, flags to clear, payload after the client id, statements)
    "will-flag-without-will": (0x04, 0xFF, b"", ("3.1.1:MQTT-3.1.2-9", "5:MQTT-3.1.2-9")),
    "will-qos-without-will": (
        0x08, 0xFF, b"", ("3.1.1:MQTT-3.1.2-11", "3.1.1:MQTT-3.1.2-13", "5:MQTT-3.1.2-11")
    ),
    "will-retain-without-will": (
        0x20, 0xFF, b"", ("3.1.1:MQTT-3.1.2-11", "3.1.1:MQTT-3.1.2-15", "5:MQTT-3.1.2-13")
    ),
    "will-qos-3": (0x04 | 0x18, 0xFF, None, ("3.1.1:MQTT-3.1.2-14", "5:MQTT-3.1.2-12")),
    "user-name-without-flag": (
        0, 0xFF, p.string("alice"), ("3.1.1:MQTT-3.1.2-18", "5:MQTT-3.1.2-16")
    ),
    "user-name-flag-without-name": (0x80, 0xFF, b"", ("3.1.1:MQTT-3.1.2-19", "5:MQTT-3.1.2-17")),
    "password-flag-without-password": (
        0x80 | 0x40, 0xFF, p.string("alice"), ("3.1.1:MQTT-3.1.2-21", "5:MQTT-3.1.2-19")
    ),
    "password-without-flag": (
        0x80, 0xFF, p.string("alice") + p.string("pw"), ("3.1.1:MQTT-3.1.2-20", "5:MQTT-3.1.2-18")
    ),
    "empty-will-topic": (0x04, 0xFF, b"", ("3.1.1:MQTT-4.7.3-1", "5:MQTT-4.7.3-1")),
}  # fmt: skip


@LEVELS
@pytest.mark.parametrize(
    "case",
    [
        pytest.param(name, marks=S(*c[3], "5:MQTT-3.1.4-1"), id=name)
        for name, c in CONNECT_CASES.items()
    ],
)
def test_connect_flags_and_payload_must_agree(raw: Make, level: int, case: str) -> None:
    """A flag without its field, a field without its flag, a will QoS of 3: the CONNECT does not
    conform, and the connection closes without a successful CONNACK."""
    set_flags, keep, tail, _ = CONNECT_CASES[case]
    if tail is None:
        tail = _will(level)
    if case == "empty-will-topic":
        tail = (b"\x00" if level == 5 else b"") + p.string("") + p.string(b"bye")
    r = raw(level=None)
    _refused(
        r.refuses(_connect_bytes(level, flags_or=set_flags, flags_and=keep, tail=tail)), level == 5
    )


@S("3.1.1:MQTT-3.1.2-22")
def test_a_password_without_a_user_name_is_refused_in_3_1_1(raw: Make) -> None:
    """3.1.1 only: MQTT 5 allows a password without a user name (section 3.1.2.9)."""
    r = raw(level=None)
    _refused(r.refuses(_connect_bytes(4, flags_or=0x40, tail=p.string("pw"))), False)


@LEVELS
@S("3.1.1:MQTT-3.1.3-5", "5:MQTT-3.1.3-5")
def test_a_client_id_of_23_alphanumerics_is_allowed(raw: Make, level: int) -> None:
    r = raw(level=None)
    assert r.connect("0123456789abcdefXYZ" + unique()[:4], level=level) == (0, False)


@LEVELS
@S("3.1.1:MQTT-3.1.3-6", "5:MQTT-3.1.3-6", "5:MQTT-3.1.3-7", "5:MQTT-3.2.2-16")
def test_an_empty_client_id_gets_a_unique_one(raw: Make, level: int) -> None:
    """Two clients with empty ids are two sessions: neither takes the other over; in MQTT 5 each
    learns its Assigned Client Identifier, and they differ."""
    first, second = raw(level=level, client_id=""), raw(level=level, client_id="")
    assert first.barrier() == []  # both still connected
    assert second.barrier() == []
    if level == 5:
        ids = {r.connack.props.get(p.ASSIGNED_CLIENT_ID) for r in (first, second)}
        assert len(ids) == 2
        assert not ids & {"", None}


@S("3.1.1:MQTT-3.1.3-8", "3.1.1:MQTT-3.1.3-9", "3.1.1:MQTT-3.2.2-4", "3.1.1:MQTT-3.2.2-5")
def test_an_empty_client_id_with_clean_session_0_gets_0x02_in_3_1_1(raw: Make) -> None:
    packets = raw(level=None).refuses(p.encode_connect("", level=4, clean=False))
    assert kinds(packets) == [p.CONNACK]
    assert packets[0][1] == b"\x00\x02"


@S("5:MQTT-3.1.3-8", "5:MQTT-3.2.2-6", "5:MQTT-3.2.2-7", "5:MQTT-4.13.2-1")
def test_an_empty_client_id_with_clean_start_0_in_mqtt_5(raw: Make) -> None:
    """MQTT 5 lets the server accept it (with an assigned id) or refuse it (0x85); refused, the
    connection closes."""
    r = raw(level=None)
    r.send(p.encode_connect("", level=5, clean=False))
    _, body = r.expect(p.CONNACK)
    ack = p.decode_connack(body, True)
    if ack.code:
        assert ack.code >= 0x80
        assert not ack.session_present
        assert r.closes() == []
    else:
        assert ack.props.get(p.ASSIGNED_CLIENT_ID)


@LEVELS
@S(
    "3.1.1:MQTT-3.1.4-2", "5:MQTT-3.1.4-3", "5:MQTT-3.14.2-1", "5:MQTT-3.14.2-2",
    "5:MQTT-3.14.4-1", "5:MQTT-3.14.4-2",
)  # fmt: skip
def test_a_second_connection_with_the_same_id_takes_over(raw: Make, level: int) -> None:
    client_id = unique()
    old = raw(level=level, client_id=client_id)
    raw(level=level, client_id=client_id)
    packets = old.closes()
    # the MUST is the close; a DISCONNECT before it (MQTT 5, the embedded broker's choice) says
    # 0x8E, has no Session Expiry, and is the last packet; mosquitto 2.0 closes without one
    assert set(kinds(packets)) <= ({p.DISCONNECT} if level == 5 else set())
    for _, body in packets:
        disconnect = p.decode_disconnect(body, True)
        assert disconnect.reason == 0x8E
        assert p.SESSION_EXPIRY not in disconnect.props
    assert len(packets) <= 1


@LEVELS
@S(
    "3.1.1:MQTT-3.1.2-4", "3.1.1:MQTT-3.1.3-2", "3.1.1:MQTT-3.2.2-2", "3.1.1:MQTT-3.2.2-3",
    "3.1.1:MQTT-4.1.0-1", "3.1.1:MQTT-4.1.0-2", "5:MQTT-3.1.2-5", "5:MQTT-3.1.2-6",
    "5:MQTT-3.1.2-23", "5:MQTT-3.1.3-2", "5:MQTT-3.2.2-3", "5:MQTT-4.1.0-1",
)  # fmt: skip
def test_a_persistent_session_is_resumed_with_its_subscription(raw: Make, level: int) -> None:
    client_id, topic = unique(), unique("t/")
    first = raw(level=None)
    assert first.connect(client_id, level=level, **persistent(level)) == (0, False)
    first.subscribe((topic, 1))
    first.send(p.DISCONNECT_PACKET)
    again = raw(level=None)
    assert again.connect(client_id, level=level, **persistent(level)) == (0, True)
    raw(level=level).publish(topic, b"kept", qos=1)
    assert again.message().payload == b"kept"


@LEVELS
@S(
    "3.1.1:MQTT-3.1.2-6", "3.1.1:MQTT-3.1.4-3", "3.1.1:MQTT-3.2.2-1", "5:MQTT-3.1.2-4",
    "5:MQTT-3.1.4-4", "5:MQTT-3.2.2-2",
)  # fmt: skip
def test_clean_start_discards_the_session(raw: Make, level: int) -> None:
    client_id, topic = unique(), unique("t/")
    first = raw(level=level, client_id=client_id, **persistent(level))
    first.subscribe((topic, 1))
    first.send(p.DISCONNECT_PACKET)
    publisher = raw(level=level)
    publisher.publish(topic, b"queued", qos=1)
    clean = raw(level=None)
    assert clean.connect(client_id, level=level, clean=True) == (0, False)
    publisher.publish(topic, b"after", qos=1)
    assert publishes(clean.barrier(), level == 5) == []  # neither the queued one nor a new one


@LEVELS
@S(
    "3.1.1:MQTT-3.1.2-7", "3.1.1:MQTT-3.3.1-5", "3.1.1:MQTT-3.3.1-6", "3.1.1:MQTT-3.3.1-8",
    "5:MQTT-3.3.1-5", "5:MQTT-3.3.1-9",
)  # fmt: skip
def test_a_retained_message_outlives_its_publishers_session(raw: Make, level: int) -> None:
    topic = unique("t/")
    publisher = raw(level=level)
    publisher.publish(topic, b"stays", qos=1, retain=True)
    publisher.send(p.DISCONNECT_PACKET)
    assert publisher.closes() == []
    subscriber = raw(level=level)
    subscriber.subscribe((topic, 1))
    message = subscriber.message()
    assert (message.payload, message.retain, message.qos) == (b"stays", True, 1)


@LEVELS
@pytest.mark.parametrize("retain", [False, True], ids=["non-retained", "retained"])
@S(
    "3.1.1:MQTT-3.1.2-8", "3.1.1:MQTT-3.1.2-16", "3.1.1:MQTT-3.1.2-17", "5:MQTT-3.1.2-7",
    "5:MQTT-3.1.2-8", "5:MQTT-3.1.2-14", "5:MQTT-3.1.2-15",
)  # fmt: skip
def test_a_will_is_published_as_retained_as_it_asked(raw: Make, level: int, retain: bool) -> None:
    topic = unique("w/")
    watcher = raw(level=level)
    watcher.subscribe((topic, 0))
    dying = raw(level=level, will=(topic, b"gone", 1, retain))
    dying.close()
    assert watcher.message().payload == b"gone"
    later = raw(level=level)
    later.subscribe((topic, 0))
    found = publishes(later.barrier(), level == 5)
    assert [(m.payload, m.retain) for m in found] == ([(b"gone", True)] if retain else [])


@LEVELS
@S(
    "3.1.1:MQTT-3.1.2-10", "3.1.1:MQTT-3.1.2-12", "3.1.1:MQTT-3.14.4-3", "5:MQTT-3.1.2-10",
    "5:MQTT-3.14.4-3",
)  # fmt: skip
def test_no_will_after_disconnect_nor_without_the_flag(raw: Make, level: int) -> None:
    """The will goes with a DISCONNECT (0x00); a later connection of the same client without a
    will publishes none when it drops. The third connection's CONNACK is the signal: by then the
    broker has ended the second one, and published anything it was going to."""
    client_id, topic = unique(), unique("w/")
    watcher = raw(level=level)
    watcher.subscribe((topic, 0))
    with_will = raw(level=level, client_id=client_id, will=(topic, b"gone", 0, False))
    with_will.send(p.DISCONNECT_PACKET)
    assert with_will.closes() == []
    raw(level=level, client_id=client_id).close()  # no will flag, dropped without DISCONNECT
    raw(level=level, client_id=client_id)
    assert publishes(watcher.barrier(), level == 5) == []


@LEVELS
@S("3.1.1:MQTT-3.1.4-5", "5:MQTT-3.1.4-6", "5:MQTT-4.12.0-1")
def test_nothing_after_a_refused_connect_is_processed(raw: Make, level: int) -> None:
    """The refused CONNECT and a retained PUBLISH in one write: the PUBLISH is not processed."""
    topic = unique("t/")
    if level == 4:
        refused = p.encode_connect("", level=4, clean=False)  # 0x02
    else:
        refused = p.encode_connect(unique(), level=5, props={p.AUTHENTICATION_METHOD: "NOPE-1"})
    sneaked = p.encode_publish(topic, b"sneaked", 0, True, 0, False, level == 5, {})
    _refused(raw(level=None).refuses(refused + sneaked), level == 5)
    subscriber = raw(level=level)
    subscriber.subscribe((topic, 0))
    assert publishes(subscriber.barrier(), level == 5) == []


@S(
    "5:MQTT-4.12.0-6", "5:MQTT-3.1.2-28", "5:MQTT-3.2.2-9", "5:MQTT-3.2.2-10", "5:MQTT-2.2.2-1",
)  # fmt: skip
def test_what_the_mqtt5_connack_leaves_out(raw: Make) -> None:
    """Without an Authentication Method: no AUTH, no method in CONNACK. Request Response
    Information 0: no Response Information. No Maximum QoS: QoS 2 is taken, and SUBSCRIBE at
    every QoS is granted."""
    r = raw(level=5, props={p.REQUEST_RESPONSE_INFO: 0})
    assert p.AUTHENTICATION_METHOD not in r.connack.props
    assert 0x1A not in r.connack.props  # Response Information
    if 0x24 not in r.connack.props:  # Maximum QoS absent: QoS 2 supported
        assert r.publish(unique("t/"), b"x", qos=2) in (0x00, 0x10)
    assert r.subscribe((unique("t/"), 0), (unique("t/"), 1), (unique("t/"), 2)) == [0, 1, 2]
    assert r.barrier() == []  # no AUTH came


@pytest.mark.parametrize("flags", [0, 1], ids=["auth", "auth-bad-flags"])
@S("5:MQTT-3.15.1-1", "5:MQTT-4.12.0-7", "5:MQTT-4.13.1-1")
def test_an_auth_packet_without_a_method_closes_the_connection(raw: Make, flags: int) -> None:
    # re-authenticate, no properties
    packets = raw(level=5).refuses(p.packet(p.AUTH << 4 | flags, b"\x19\x00"))
    assert set(kinds(packets)) <= {p.DISCONNECT}
    if packets:
        assert disconnect_reason(packets) in ((0x81,) if flags else (0x81, 0x82, 0x8C))


@LEVELS
@S("3.1.1:MQTT-3.14.1-1", "3.1.1:MQTT-2.2.2-2", "5:MQTT-3.14.1-1", "5:MQTT-2.1.3-1")
def test_a_disconnect_with_reserved_bits_set_is_malformed(raw: Make, level: int) -> None:
    """Not a DISCONNECT the client may send: the connection closes as after any malformed packet,
    so the will is published, not discarded."""
    topic = unique("w/")
    watcher = raw(level=level)
    watcher.subscribe((topic, 0))
    r = raw(level=level, will=(topic, b"gone", 0, False))
    assert set(kinds(r.refuses(bytes((p.DISCONNECT << 4 | 1, 0))))) <= {p.DISCONNECT}
    assert watcher.message().payload == b"gone"


@S("5:MQTT-1.5.5-1")
def test_remaining_lengths_use_the_fewest_bytes(raw: Make) -> None:
    """Bodies of 127, 128 and 16,384 bytes: one, two and three length bytes."""
    topic = unique("t/")
    subscriber = raw(level=5)
    subscriber.subscribe((topic, 0))
    publisher = raw(level=5)
    fixed = 2 + len(topic) + 1  # topic string and the empty property length
    for body, size in ((127, 1), (128, 2), (16_384, 3)):
        publisher.publish(topic, b"x" * (body - fixed))
        subscriber.message()
        assert subscriber.header_size == 1 + size, body
