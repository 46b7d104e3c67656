"""What only our own broker offers a test (issue 24): its view of the wire (``broker.packets``,
``broker.clients``), a clock the test advances, and protocol faults on demand. Raw clients send
the bytes; every assertion is on what the broker did or recorded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mqtt_surge import ConfigError, EmbeddedBroker
from mqtt_surge import mqtt as p

from ..conformance._raw import Closed, Raw, publishes, unique


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as b:
        yield b


@pytest.fixture
def manual() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(clock="manual") as b:
        yield b


def connect(broker: EmbeddedBroker, client_id: str | None = None, **fields: object) -> Raw:
    r = Raw(broker.url)
    code, _ = r.connect(client_id or unique(), level=fields.pop("level", 5), **fields)  # type: ignore[arg-type]
    assert code == 0
    return r


# -- broker.packets, broker.clients ---------------------------------------------------------------


def test_every_packet_in_and_out_is_recorded_in_order_and_decoded(broker: EmbeddedBroker) -> None:
    broker.packets.clear()
    me, topic = unique("c"), unique("t/")
    will = (topic + "/will", b"gone", 1, False)
    r = connect(broker, me, will=will, will_props={p.WILL_DELAY: 5}, keepalive=30)
    r.subscribe((topic + "/#", 1 | 0x04))  # QoS 1, No Local
    r.publish(topic + "/a", b"hello", qos=1, retain=True, props={p.USER_PROPERTY: [("k", "v")]})
    mine = broker.packets.of(me)
    assert [(x.direction, x.type) for x in mine] == [
        ("in", "CONNECT"),
        ("out", "CONNACK"),
        ("in", "SUBSCRIBE"),
        ("out", "SUBACK"),
        ("in", "PUBLISH"),
        ("out", "PUBACK"),
    ]
    connect_record, subscribe, publish = mine[0], mine[2], mine[4]
    assert connect_record.connect is not None
    assert connect_record.connect.keepalive == 30
    assert connect_record.connect.will is not None
    assert connect_record.connect.will.props == {p.WILL_DELAY: 5}
    assert subscribe.options == [
        {
            "filter": topic + "/#",
            "qos": 1,
            "no_local": True,
            "retain_as_published": False,
            "retain_handling": 0,
        }
    ]
    assert (publish.topic, publish.payload, publish.qos, publish.retain, publish.dup) == (
        topic + "/a",
        b"hello",
        1,
        True,
        False,
    )
    assert publish.properties[p.USER_PROPERTY] == [("k", "v")]
    assert [x.time for x in mine] == sorted(x.time for x in mine)
    assert broker.packets.publishes(topic + "/#") == [publish]
    assert broker.packets.latest(lambda x: x.client_id == me, 2) == mine[-2:]  # newest, in order


def test_clients_are_the_connected_ones_with_their_connect(broker: EmbeddedBroker) -> None:
    me = unique("c")
    r = connect(broker, me, keepalive=15, clean=False, props={p.SESSION_EXPIRY: 60})
    (info,) = [c for c in broker.clients if c.client_id == me]
    assert (info.protocol, info.keepalive, info.clean_start, info.session_expiry) == (
        5,
        15,
        False,
        60.0,
    )
    r.send(p.encode_disconnect())
    r.closes()
    assert me not in [c.client_id for c in broker.clients]


def test_the_log_is_bounded_and_counts_what_it_let_go() -> None:
    with EmbeddedBroker(max_packet_records=10) as b:
        r = connect(b)
        for _ in range(20):
            r.send(p.PINGREQ_PACKET)
        for _ in range(20):
            r.expect(p.PINGRESP)  # recorded before it was written
        assert len(b.packets) == 10
        assert b.packets.dropped >= 30  # the probe's, the CONNECT's, 20 pings and their answers
        assert b.packets[-1].type == "PINGRESP"


def test_with_inspection_off_nothing_is_recorded() -> None:
    with EmbeddedBroker(inspect=False) as b:
        connect(b).barrier()
        assert len(b.packets) == 0


def test_a_packet_that_does_not_decode_is_recorded_with_why(broker: EmbeddedBroker) -> None:
    me = unique("c")
    r = connect(broker, me)
    r.refuses(bytes((p.SUBSCRIBE << 4 | 2, 2, 0, 1)))  # a packet id and no filter
    bad = [x for x in broker.packets.of(me) if x.type == "SUBSCRIBE"]
    assert bad[0].error


# -- the manual clock -----------------------------------------------------------------------------


def test_a_session_expires_when_the_clock_says_so(manual: EmbeddedBroker) -> None:
    me = unique("c")
    r = connect(manual, me, clean=False, props={p.SESSION_EXPIRY: 300})
    r.send(p.encode_disconnect())
    manual.wait_disconnected(me)  # the expiry runs from the broker's handling of it
    manual.clock.advance(299)
    back = Raw(manual.url)
    assert back.connect(me, level=5, clean=False, props={p.SESSION_EXPIRY: 300}) == (0, True)
    back.send(p.encode_disconnect())
    manual.wait_disconnected(me)
    manual.clock.advance(300)
    again = Raw(manual.url)
    assert again.connect(me, level=5, clean=False, props={p.SESSION_EXPIRY: 300}) == (0, False)


def test_a_delayed_will_and_a_message_expiry_follow_the_clock(manual: EmbeddedBroker) -> None:
    topic = unique("t/")
    watcher = connect(manual, keepalive=0)
    watcher.subscribe((topic + "/#", 1))
    dying_id = unique("c")
    dying = connect(
        manual,
        dying_id,
        keepalive=0,
        will=(topic + "/will", b"x", 1, False),
        will_props={p.WILL_DELAY: 30},
        props={p.SESSION_EXPIRY: 60},  # the will waits for the earlier of the two
    )
    dying.close()
    manual.wait_disconnected(dying_id)  # the will's delay runs from the broker's noticing
    assert publishes(watcher.barrier(), True) == []  # the delay has not passed
    manual.clock.advance(30)
    assert [m.topic for m in publishes(watcher.barrier(), True)] == [topic + "/will"]
    # a message that expires in 10 s, for a session away: gone once the clock passes it
    me = unique("c")
    away = connect(manual, me, keepalive=0, clean=False, props={p.SESSION_EXPIRY: 3600})
    away.subscribe((topic + "/late", 1))
    away.send(p.encode_disconnect())
    away.closes()
    connect(manual, keepalive=0).publish(topic + "/late", qos=1, props={p.MESSAGE_EXPIRY: 10})
    manual.clock.advance(11)
    back = connect(manual, me, keepalive=0, clean=False, props={p.SESSION_EXPIRY: 3600})
    assert publishes(back.barrier(), True) == []


def test_a_client_silent_past_its_keepalive_is_closed_when_the_clock_passes_it(
    manual: EmbeddedBroker,
) -> None:
    topic = unique("t/")
    watcher = connect(manual, keepalive=0)
    watcher.subscribe((topic, 1))
    me = unique("c")
    silent = connect(manual, me, keepalive=10, will=(topic, b"missed", 1, False))
    manual.clock.advance(14)  # 1.5 keepalives are 15 s
    assert me in [c.client_id for c in manual.clients]  # (a PINGREQ would reset its timer)
    manual.clock.advance(1.5)
    assert silent.closes() == []
    assert [m.payload for m in publishes(watcher.barrier(), True)] == [b"missed"]


def test_a_real_clock_cannot_be_advanced_and_time_moves_forward_only(
    broker: EmbeddedBroker, manual: EmbeddedBroker
) -> None:
    with pytest.raises(ConfigError, match="clock='manual'"):
        broker.clock.advance(1)
    with pytest.raises(ConfigError, match="seconds >= 0"):
        manual.clock.advance(-1)
    before = manual.clock.now()
    assert manual.clock.advance(2.5) == before + 2.5
    with pytest.raises(ConfigError, match="clock must be 'real' or 'manual'"):
        EmbeddedBroker(clock="fast")


# -- protocol faults ------------------------------------------------------------------------------


def faults_seen(broker: EmbeddedBroker) -> list[tuple[str, str | None]]:
    return [(r.type, r.topic) for r in broker.packets if r.direction == "fault"]


def test_withheld_acks_leave_the_sender_without_puback_for_the_next_n(
    broker: EmbeddedBroker,
) -> None:
    topic = unique("t/")
    broker.faults.withhold_acks(topic + "/#", count=1)
    r = connect(broker)
    r.send(p.encode_publish(topic + "/a", b"x", 1, False, 7, False, True, None))
    assert r.barrier() == []  # no PUBACK for it
    assert r.publish(topic + "/a", qos=1) in (0, 0x10)  # the count is spent
    assert faults_seen(broker)[-1] == ("withhold_acks", topic + "/a")


def test_delayed_acks_come_late(broker: EmbeddedBroker) -> None:
    topic = unique("t/")
    broker.faults.delay_acks(topic, 0.3, count=1)
    r = connect(broker)
    r.send(p.encode_publish(topic, b"x", 1, False, 7, False, True, None))
    assert r.barrier() == []  # not yet: the PINGRESP overtook it
    ack = p.decode_ack(*r.expect(p.PUBACK, timeout=10), True)
    assert ack.mid == 7


def test_deliver_twice_sends_each_subscriber_two_publishes(broker: EmbeddedBroker) -> None:
    topic = unique("t/")
    sub = connect(broker)
    sub.subscribe((topic, 1))
    broker.faults.deliver_twice(topic)
    connect(broker).publish(topic, b"once", qos=1)
    got = publishes(sub.barrier(), True)
    assert [(m.payload, m.dup) for m in got] == [(b"once", False), (b"once", False)]
    assert got[0].mid != got[1].mid
    connect(broker).publish(topic, b"next", qos=1)  # count=1: spent
    assert [m.payload for m in publishes(sub.barrier(), True)] == [b"next"]


def test_redeliver_with_dup_repeats_the_publish_with_its_packet_id(broker: EmbeddedBroker) -> None:
    topic = unique("t/")
    sub = connect(broker)
    sub.subscribe((topic, 1))
    broker.faults.redeliver_with_dup(topic, count=1)
    connect(broker).publish(topic, b"x", qos=1)
    first, again = publishes(sub.barrier(), True)
    assert (first.dup, again.dup, first.mid) == (False, True, again.mid)


def test_disconnect_drops_a_client_now_or_after_n_packets(broker: EmbeddedBroker) -> None:
    topic = unique("t/")
    watcher = connect(broker)
    watcher.subscribe((topic, 1))
    now_id, later_id = unique("c"), unique("c")
    now = connect(broker, now_id, will=(topic, b"now", 1, False))
    later = connect(broker, later_id)
    broker.faults.disconnect(now_id)
    assert now.closes() == []  # no DISCONNECT: a lost link
    assert [m.payload for m in publishes([watcher.packet()], True)] == [b"now"]
    broker.faults.disconnect(later_id, after_packets=2)
    later.send(p.PINGREQ_PACKET)
    assert p.PINGRESP in [f >> 4 for f, _ in [later.packet()]]
    later.send(p.PINGREQ_PACKET)
    assert [f >> 4 for f, _ in later.closes()] == [p.PINGRESP]  # the 2nd is answered, then gone
    assert [t for t, _ in faults_seen(broker)][-2:] == ["disconnect", "disconnect"]


@pytest.mark.parametrize(("level", "code"), [(5, 0x88), (4, 0x03)])
def test_refuse_next_connect_refuses_one_connect(
    broker: EmbeddedBroker, level: int, code: int
) -> None:
    broker.faults.refuse_next_connect(0x88)  # server unavailable; 3.1.1 says it with 3
    refused = Raw(broker.url)
    assert refused.connect(unique(), level=level)[0] == code
    with pytest.raises(Closed):
        refused.packet()
    assert connect(broker, level=level).barrier() == []  # the next one gets in


def test_drop_retained_loses_the_retained_message(broker: EmbeddedBroker) -> None:
    topic = unique("t/")
    connect(broker).publish(topic, b"kept", qos=1, retain=True)
    broker.faults.drop_retained(topic)
    late = connect(broker)
    late.subscribe((topic, 1))
    assert publishes(late.barrier(), True) == []
    assert faults_seen(broker)[-1] == ("drop_retained", topic)


def test_clear_ends_every_fault(broker: EmbeddedBroker) -> None:
    topic = unique("t/")
    broker.faults.withhold_acks(topic)
    broker.faults.clear()
    assert connect(broker).publish(topic, qos=1) in (0, 0x10)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda f: f.withhold_acks("a/#/b"), "topic filter 'a/#/b'"),
        (lambda f: f.deliver_twice("a", count=0), "count must be an int >= 1"),
        (lambda f: f.delay_acks("a", -1), "seconds must be a number >= 0"),
        (lambda f: f.refuse_next_connect(5), "reason_code must be an MQTT 5 CONNACK reason"),
        (lambda f: f.disconnect("c", after_packets=-1), "after_packets must be an int >= 0"),
        (lambda f: f.drop_retained("a/+"), "topic 'a/+'"),
    ],
)
def test_a_bad_fault_is_refused_naming_the_value(
    broker: EmbeddedBroker, call: object, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        call(broker.faults)  # type: ignore[operator]
    assert message in str(info.value)


# -- the capture (mqtt_capture's object) ----------------------------------------------------------


def test_capture_sees_what_was_published_since_it_began(broker: EmbeddedBroker) -> None:
    from mqtt_surge.testing import Capture

    topic = unique("t/")
    connect(broker).publish(topic + "/before", qos=1)
    capture = Capture(broker, topic + "/#")
    pub = connect(broker)
    pub.publish(topic + "/a", b"1", qos=1)
    pub.publish(topic + "/b/c", b"2", qos=0)
    pub.publish(unique("elsewhere/"), b"3", qos=1)
    got = capture.wait_for(2)
    assert [(m.topic, m.payload) for m in got] == [(topic + "/a", b"1"), (topic + "/b/c", b"2")]
    assert [m.payload for m in capture.on(topic + "/b/#").messages] == [b"2"]
    with pytest.raises(AssertionError, match=r"expected 3 message\(s\).*got 2"):
        capture.wait_for(3, timeout=0.2)


def test_assert_nothing_fails_on_a_message_and_passes_without(broker: EmbeddedBroker) -> None:
    from mqtt_surge.testing import Capture

    topic = unique("t/")
    capture = Capture(broker, topic + "/#")
    capture.assert_nothing(topic + "/alerts/#", within=0.1)
    connect(broker).publish(topic + "/alerts/fire", b"!", qos=1)
    with pytest.raises(AssertionError, match="expected nothing published"):
        capture.assert_nothing(topic + "/alerts/#", within=0.1)
    capture.on(topic + "/other/#").assert_nothing(within=0.05)


def test_capture_needs_a_broker_that_records(broker: EmbeddedBroker) -> None:
    from mqtt_surge import MosquittoBroker
    from mqtt_surge.testing import Capture

    with pytest.raises(ConfigError, match="capture needs the embedded broker"):
        Capture(MosquittoBroker())
    with pytest.raises(ConfigError, match="topic filter 'a/#/b'"):
        Capture(broker, "a/#/b")


def test_wait_disconnected_returns_once_the_broker_let_the_client_go(
    manual: EmbeddedBroker,
) -> None:
    me = unique("c")
    r = connect(manual, me, keepalive=0, clean=False, props={p.SESSION_EXPIRY: 5})
    with pytest.raises(TimeoutError):
        manual.wait_disconnected(me, timeout=0.2)  # still connected
    r.send(p.encode_disconnect())
    manual.wait_disconnected(me)
    manual.clock.advance(5)  # the 5 s ran from the broker's handling of the DISCONNECT
    assert manual.stats().sessions == 0
    manual.wait_disconnected(unique("never-connected"))  # nobody: at once
