"""Brokers configured as production ones are (``BrokerOptions``): TLS, client certificates,
WebSockets, logins and ACLs, limits. Each case starts a broker of its own with the options of its
``broker_options`` marker, on every engine, and holds each to the same assertion; an engine that
cannot be configured so is "not supported" in the table, with its reason.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trustme

from mqtt_surge import mqtt as p
from mqtt_surge.brokers import BrokerBase, broker_from_spec

from ._raw import Closed, Raw, WsRaw, disconnect_reason, kinds, persistent, publishes, unique

ACL = """\
# the app writes its own tree and reads the commands for it
user app
topic readwrite app/#
topic read cmd/#
topic deny app/secret
# every client its own inbox: %c is its client id, %u its user name
pattern readwrite inbox/%c/#
pattern read user/%u/#
"""
LOGINS = {"app": "s3cret", "other": "pw2"}
SLOW_CLOSE = 40.0  # generous: mosquitto's keepalive check runs once a second
SERVER_KEEPALIVE = 10  # mosquitto 2.0 refuses less


@pytest.fixture(params=["embedded", "amqtt", "mosquitto"])
def configured(request: pytest.FixtureRequest) -> Iterator[BrokerBase]:
    """A broker of the param's engine with the options of the test's ``broker_options``
    marker, stopped at the end of the test."""
    marker = request.node.get_closest_marker("broker_options")
    options: dict[str, Any] = dict(marker.kwargs) if marker else {}
    engine = broker_from_spec(request.param)
    gaps = engine.capabilities.missing_options(options)
    if gaps:
        pytest.skip(f"not supported by {engine.engine}: {'; '.join(gaps)}")
    with broker_from_spec(request.param, **options) as broker:
        yield broker


def tcp(broker: BrokerBase, level: int | None = 4, **fields: Any) -> Raw:
    """A raw client on the broker's MQTT-over-TCP listener (TLS where it has it)."""
    url = broker.listeners["mqtts" if broker.tls else "mqtt"]
    r = Raw(url, context=broker.client_tls())
    if level is not None:
        code, _ = r.connect(fields.pop("client_id", unique()), level=level, **fields)
        assert code == 0, f"CONNACK {code:#x}"
    return r


def login(name: str) -> dict[str, Any]:
    return {"username": name, "password": LOGINS[name].encode()}


LEVELS = pytest.mark.parametrize("level", [4, 5], ids=["3.1.1", "5"])


# -- TLS ------------------------------------------------------------------------------------------


@pytest.mark.broker_options(tls=True)
def test_a_client_that_trusts_the_brokers_ca_gets_a_session_over_tls(
    configured: BrokerBase,
) -> None:
    assert configured.url.scheme == "mqtts"
    r = tcp(configured)
    assert isinstance(r.sock, ssl.SSLSocket)
    r.subscribe(("tls/" + unique(), 1))
    assert r.barrier() == []


@pytest.mark.broker_options(tls=True)
def test_a_client_that_does_not_trust_the_brokers_ca_fails_the_handshake(
    configured: BrokerBase,
) -> None:
    stranger = ssl.create_default_context()
    trustme.CA().configure_trust(stranger)
    with pytest.raises(ssl.SSLCertVerificationError):
        Raw(configured.listeners["mqtts"], context=stranger)


def session(broker: BrokerBase, context: ssl.SSLContext) -> None:
    # under TLS 1.3 a refused client certificate shows only once the client speaks
    Raw(broker.listeners["mqtts"], context=context).connect(unique(), level=4)


@pytest.mark.broker_options(tls=True, require_certificate=True)
def test_a_client_certificate_from_another_ca_is_refused(configured: BrokerBase) -> None:
    outsider = trustme.CA().issue_cert("intruder", common_name="intruder")
    context = configured.client_tls()
    assert context is not None
    outsider.configure_cert(context)  # presents a certificate the broker's CA did not sign
    with pytest.raises((ssl.SSLError, OSError, Closed)):
        session(configured, context)


@pytest.mark.broker_options(tls=True, require_certificate=True)
def test_a_client_without_a_certificate_is_refused(configured: BrokerBase) -> None:
    assert configured.tls is not None
    with pytest.raises((ssl.SSLError, OSError, Closed)):
        session(configured, configured.tls.client_context())


@pytest.mark.broker_options(
    tls=True, require_certificate=True, use_identity_as_username=True, acl=ACL
)
@LEVELS
def test_the_certificates_common_name_is_the_login_the_acl_sees(
    configured: BrokerBase, level: int
) -> None:
    r = Raw(configured.listeners["mqtts"], context=configured.client_tls("app"))
    # the user name in CONNECT is not asked: the certificate's is "app"
    assert r.connect(unique(), level=level, username="someone-else", password=b"x")[0] == 0
    assert r.publish("app/" + unique(), qos=1) in (0, 0x10)
    assert r.publish("elsewhere/" + unique(), qos=1) == (0x87 if level == 5 else 0)


# -- logins ---------------------------------------------------------------------------------------


@pytest.mark.broker_options(users=LOGINS)
@LEVELS
@pytest.mark.statements("3.1.1:MQTT-3.2.2-4", "3.1.1:MQTT-3.2.2-5", "5:MQTT-3.1.4-2")
def test_a_wrong_password_or_no_login_is_refused_with_connack_not_authorized(
    configured: BrokerBase, level: int
) -> None:
    refused = 0x87 if level == 5 else 0x05
    for fields in ({"username": "app", "password": b"wrong"}, {}, {"username": "nobody"}):
        r = tcp(configured, level=None)
        r.level = level
        r.send(p.encode_connect(unique(), level=level, **fields))
        first, body = r.packet()
        assert first >> 4 == p.CONNACK
        assert body[1] == refused, (fields, body.hex())
        assert r.closes() == []
    assert tcp(configured, level, **login("other")).barrier() == []


@pytest.mark.broker_options(users=LOGINS, allow_anonymous=True)
def test_allow_anonymous_lets_a_client_without_a_login_in_beside_the_users(
    configured: BrokerBase,
) -> None:
    assert tcp(configured, 4).barrier() == []
    assert tcp(configured, 4, **login("app")).barrier() == []


# -- ACL ------------------------------------------------------------------------------------------


@pytest.mark.broker_options(users=LOGINS, acl=ACL)
@LEVELS
@pytest.mark.statements("3.1.1:MQTT-3.3.5-2")
def test_a_publish_the_acl_denies_is_acknowledged_and_goes_nowhere(
    configured: BrokerBase, level: int
) -> None:
    watcher = tcp(configured, level, **login("app"))
    watcher.subscribe(("#", 1))  # granted: mosquitto 2.0 checks each message on its way out
    app = tcp(configured, level, **login("app"))
    denied = 0x87 if level == 5 else 0  # 3.1.1 has no way to say; it acknowledges as usual
    for qos in (0, 1, 2):
        assert app.publish("cmd/" + unique(), qos=qos) == (denied if qos else 0)
        assert app.publish("app/secret", qos=qos) == (denied if qos else 0)
    assert app.barrier() == []  # and the connection goes on
    assert watcher.barrier() == []


@pytest.mark.broker_options(users=LOGINS, acl=ACL)
@LEVELS
def test_a_subscription_is_granted_and_only_readable_messages_come(
    configured: BrokerBase, level: int
) -> None:
    app = tcp(configured, level, **login("app"))
    other = tcp(configured, level, **login("other"))
    assert app.subscribe(("#", 1), ("secret/#", 1)) == [1, 1]  # as mosquitto 2.0: granted
    assert other.subscribe(("#", 1)) == [1]
    tag = unique()
    tcp(configured, level, **login("app")).publish(f"app/{tag}", qos=1)  # "app" writes app/
    assert [m.topic for m in publishes([app.packet()], level == 5)] == [f"app/{tag}"]
    assert publishes(other.barrier(), level == 5) == []  # no read rule for "other" on app/


@pytest.mark.broker_options(users=LOGINS, acl=ACL)
def test_patterns_give_each_client_its_own_inbox(configured: BrokerBase) -> None:
    me = unique("c")
    r = tcp(configured, 5, client_id=me, **login("other"))
    r.subscribe((f"inbox/{me}/#", 1))
    r.publish(f"inbox/{me}/note")  # QoS 0: what comes back is the message alone
    assert [m.topic for m in publishes([r.packet()], True)] == [f"inbox/{me}/note"]
    assert r.publish(f"inbox/{unique('c')}/note", qos=1) == 0x87  # another client's inbox
    assert r.publish("user/other/x", qos=1) == 0x87  # %u: read only


@pytest.mark.broker_options(users=LOGINS, acl=ACL)
def test_a_retained_message_the_acl_does_not_let_a_client_read_is_not_sent(
    configured: BrokerBase,
) -> None:
    tag = unique()
    app = tcp(configured, 5, **login("app"))
    app.publish(f"app/{tag}", b"kept", qos=1, retain=True)
    reader = tcp(configured, 5, **login("app"))
    reader.subscribe((f"app/{tag}", 1))
    assert [m.payload for m in publishes([reader.packet()], True)] == [b"kept"]
    other = tcp(configured, 5, **login("other"))
    other.subscribe((f"app/{tag}", 1))
    assert other.barrier() == []
    app.publish(f"app/{tag}", b"", qos=1, retain=True)  # leave nothing behind


@pytest.mark.broker_options(users=LOGINS, acl=ACL)
@pytest.mark.statements("5:MQTT-4.3.3-9")
def test_after_a_pubrec_that_refused_it_the_same_packet_id_is_a_new_message(
    configured: BrokerBase,
) -> None:
    app = tcp(configured, 5, **login("app"))
    app.send(p.encode_publish("cmd/" + unique(), b"x", 2, False, 7, False, True, None))
    ack = p.decode_ack(*app.expect(p.PUBREC), True)
    assert (ack.mid, ack.codes[0]) == (7, 0x87)
    app.send(p.encode_publish("app/" + unique(), b"x", 2, False, 7, False, True, None))
    ack = p.decode_ack(*app.expect(p.PUBREC), True)
    assert ack.mid == 7
    assert ack.codes[0] < 0x80  # new: taken, not refused again


@pytest.mark.broker_options(users=LOGINS, acl=ACL)
def test_a_will_the_acl_denies_is_not_published(configured: BrokerBase) -> None:
    watcher = tcp(configured, 5, **login("app"))
    watcher.subscribe(("cmd/#", 1), ("app/#", 1))
    allowed, denied = "app/" + unique(), "cmd/" + unique()
    for topic in (denied, allowed):
        dying = tcp(configured, 5, will=(topic, b"gone", 1, False), **login("app"))
        dying.close()  # no DISCONNECT: the will goes out if it may
    got = watcher.message()
    assert got.topic == allowed  # the denied one, lost first, never came
    assert publishes(watcher.barrier(), True) == []


# -- limits ---------------------------------------------------------------------------------------


@pytest.mark.broker_options(max_packet_size=512)
def test_max_packet_size_is_announced_and_a_larger_packet_closes_the_connection(
    configured: BrokerBase,
) -> None:
    r = tcp(configured, 5)
    assert r.connack.props[p.MAXIMUM_PACKET_SIZE] == 512
    assert r.publish("limits/" + unique(), b"x" * 400, qos=1) in (0, 0x10)
    closed = r.refuses(p.encode_publish("limits/x", b"x" * 600, 1, False, 9, False, True, None))
    assert disconnect_reason(closed) in (None, 0x95)


@pytest.mark.broker_options(receive_maximum=3)
@pytest.mark.statements("5:MQTT-3.3.4-9", "5:MQTT-4.9.0-1")
def test_receive_maximum_is_announced_and_bounds_what_is_sent_unacknowledged(
    configured: BrokerBase,
) -> None:
    r = tcp(configured, 5)
    assert r.connack.props[p.RECEIVE_MAXIMUM] == 3
    topic = "limits/" + unique()
    r.subscribe((topic, 1))
    pub = tcp(configured, 5)
    for _ in range(6):
        pub.publish(topic, qos=1)
    first = publishes(r.barrier(), True)
    assert len(first) == 3  # three in flight, the others held until PUBACKs come
    for message in first:
        r.send(p.encode_ack(p.PUBACK, message.mid, True))
    assert len(publishes(r.barrier(), True)) == 3


@pytest.mark.broker_options(topic_alias_maximum=2)
@pytest.mark.statements("5:MQTT-3.3.2-12")
def test_topic_alias_maximum_is_announced_and_an_alias_above_it_disconnects_0x94(
    configured: BrokerBase,
) -> None:
    r = tcp(configured, 5)
    assert r.connack.props[p.TOPIC_ALIAS_MAXIMUM] == 2
    r.publish("limits/" + unique(), qos=1, props={p.TOPIC_ALIAS: 2})
    closed = r.refuses(
        p.encode_publish("limits/a", b"x", 1, False, 9, False, True, {p.TOPIC_ALIAS: 3})
    )
    assert disconnect_reason(closed) == 0x94


@pytest.mark.broker_options(server_keepalive=10)
@pytest.mark.statements("5:MQTT-3.2.2-22")
def test_server_keepalive_replaces_a_longer_or_no_keepalive(configured: BrokerBase) -> None:
    for asked in (0, 60):
        r = tcp(configured, 5, keepalive=asked)
        assert r.connack.props.get(p.SERVER_KEEP_ALIVE) == 10
    assert p.SERVER_KEEP_ALIVE not in tcp(configured, 5, keepalive=5).connack.props


@pytest.fixture(params=["embedded", "amqtt", "mosquitto"])
def silent_case(request: pytest.FixtureRequest, early_cases: dict[str, Any]) -> Any:
    """The silent-client case of the param's engine, started when collection ended (its wait is
    the broker's keepalive clock, 1.5 x 10 s: it overlaps the other tests; see _early.py)."""
    gaps = broker_from_spec(request.param).capabilities.missing_options(["server_keepalive"])
    if gaps:
        pytest.skip(f"not supported by {request.param}: {'; '.join(gaps)}")
    return early_cases[f"keepalive-{request.param}"]


@pytest.mark.statements("5:MQTT-3.1.2-22")
def test_a_client_silent_past_the_server_keepalive_is_disconnected(silent_case: Any) -> None:
    announced, closed_after = silent_case.outcome()  # it asked for no keepalive (0)
    assert announced == SERVER_KEEPALIVE
    assert closed_after is not None, f"still open {SLOW_CLOSE:g}s after its CONNACK"
    assert closed_after >= SERVER_KEEPALIVE  # not before the keepalive itself


@pytest.mark.broker_options(max_queued_messages=3)
def test_max_queued_messages_bounds_what_an_absent_session_is_kept(
    configured: BrokerBase,
) -> None:
    me, topic = unique(), "limits/" + unique()
    r = tcp(configured, 5, client_id=me, **persistent(5))
    r.subscribe((topic, 1))
    r.send(p.encode_disconnect())
    r.closes()
    pub = tcp(configured, 5)
    for _ in range(8):
        pub.publish(topic, qos=1)
    back = tcp(configured, 5, client_id=me, **persistent(5))
    assert len(publishes(back.barrier(), True)) == 3


@pytest.mark.broker_options(retain_available=False)
@pytest.mark.statements("5:MQTT-3.2.2-13")
def test_retain_unavailable_is_announced_and_a_retained_publish_or_will_is_refused(
    configured: BrokerBase,
) -> None:
    r = tcp(configured, 5)
    assert r.connack.props[p.RETAIN_AVAILABLE] == 0
    closed = r.refuses(p.encode_publish("limits/r", b"x", 0, True, 0, False, True, None))
    assert disconnect_reason(closed) == 0x9A
    will = tcp(configured, level=None)
    will.level = 5
    will.send(p.encode_connect(unique(), level=5, will=("limits/w", b"x", 0, True)))
    assert will.packet()[1][1] == 0x9A  # CONNACK "retain not supported"
    assert will.closes() == []


@pytest.mark.broker_options(max_qos=1)
@pytest.mark.statements("5:MQTT-3.2.2-9", "5:MQTT-3.2.2-10", "5:MQTT-3.2.2-12")
def test_max_qos_is_announced_granted_and_enforced(configured: BrokerBase) -> None:
    r = tcp(configured, 5)
    assert r.connack.props[p.MAXIMUM_QOS] == 1
    assert r.subscribe(("limits/" + unique(), 2)) == [1]  # accepted, granted at most 1
    closed = r.refuses(p.encode_publish("limits/q", b"x", 2, False, 5, False, True, None))
    assert disconnect_reason(closed) == 0x9B
    will = tcp(configured, level=None)
    will.level = 5
    will.send(p.encode_connect(unique(), level=5, will=("limits/w", b"x", 2, False)))
    assert will.packet()[1][1] == 0x9B  # CONNACK "QoS not supported"
    old = tcp(configured, level=4)
    assert kinds(old.refuses(p.encode_publish("limits/q", b"x", 2, False, 5))) == []


@pytest.mark.broker_options(wildcard_subscriptions=False)
def test_wildcards_unavailable_are_announced_and_refused_0xa2(configured: BrokerBase) -> None:
    r = tcp(configured, 5)
    assert r.connack.props[p.WILDCARD_SUB_AVAILABLE] == 0
    assert r.subscribe(("limits/+", 1), ("limits/#", 1), ("limits/x", 1)) == [0xA2, 0xA2, 1]


@pytest.mark.broker_options(shared_subscriptions=False)
def test_shared_subscriptions_unavailable_are_announced_and_refused_0x9e(
    configured: BrokerBase,
) -> None:
    r = tcp(configured, 5)
    assert r.connack.props[p.SHARED_SUB_AVAILABLE] == 0
    assert r.subscribe(("$share/g/limits/x", 1), ("limits/x", 1)) == [0x9E, 1]


@pytest.mark.broker_options(max_session_expiry=60)
def test_a_longer_session_expiry_is_cut_to_the_maximum_and_announced(
    configured: BrokerBase,
) -> None:
    r = tcp(configured, 5, props={p.SESSION_EXPIRY: 3600})
    assert r.connack.props[p.SESSION_EXPIRY] == 60
    assert p.SESSION_EXPIRY not in tcp(configured, 5, props={p.SESSION_EXPIRY: 30}).connack.props


@pytest.mark.broker_options(outgoing_topic_aliases=True)
@pytest.mark.statements("5:MQTT-3.3.2-11", "5:MQTT-3.1.2-26", "5:MQTT-3.1.2-27")
def test_outgoing_aliases_stand_for_a_topic_sent_before_within_the_clients_maximum(
    configured: BrokerBase,
) -> None:
    topics = ["alias/" + unique() for _ in range(3)]
    r = tcp(configured, 5, props={p.TOPIC_ALIAS_MAXIMUM: 2})
    r.subscribe(("alias/#", 0))
    pub = tcp(configured, 5)
    for topic in [*topics, *topics]:
        pub.publish(topic, qos=1)
    got = publishes(r.barrier(), True)
    sent = [(m.topic, m.props.get(p.TOPIC_ALIAS)) for m in got]
    assert sent == [
        (topics[0], 1),
        (topics[1], 2),
        (topics[2], None),  # over the client's maximum: the topic in full, no alias
        ("", 1),
        ("", 2),
        (topics[2], None),
    ]
    assert tcp(configured, 5).barrier() == []  # without a maximum from the client: none


# -- WebSockets -----------------------------------------------------------------------------------


def ws(broker: BrokerBase, **options: Any) -> WsRaw:
    return WsRaw(broker.url, context=broker.client_tls(), **options)


@pytest.mark.broker_options(websockets=True)
@LEVELS
@pytest.mark.statements("3.1.1:MQTT-6.0.0-4", "5:MQTT-6.0.0-4")
def test_mqtt_over_websocket_selects_the_mqtt_subprotocol_and_carries_a_session(
    configured: BrokerBase, level: int
) -> None:
    assert (configured.url.scheme, configured.url.path) == ("ws", "/mqtt")
    r = ws(configured)
    assert r.accepted is not None
    assert r.accepted.subprotocol == "mqtt"
    assert r.connect(unique(), level=level)[0] == 0
    topic = "ws/" + unique()
    r.subscribe((topic, 1))
    r.publish(topic, b"over ws")
    assert [m.payload for m in publishes([r.packet()], level == 5)] == [b"over ws"]


@pytest.mark.broker_options(websockets=True, tls=True)
def test_mqtt_over_secure_websocket(configured: BrokerBase) -> None:
    assert configured.url.scheme == "wss"
    r = ws(configured)
    assert isinstance(r.sock, ssl.SSLSocket)
    assert r.connect(unique(), level=5)[0] == 0
    assert r.barrier() == []


@pytest.mark.broker_options(websockets=True)
@LEVELS
@pytest.mark.statements("3.1.1:MQTT-6.0.0-2", "5:MQTT-6.0.0-2")
def test_a_packet_split_across_websocket_messages_and_two_in_one_are_read(
    configured: BrokerBase, level: int
) -> None:
    r = ws(configured)
    r.level = level
    r.send_split(p.encode_connect(unique(), level=level), 1, 5, 9)
    assert r.expect(p.CONNACK)[1][1] == 0
    r.send(p.PINGREQ_PACKET + p.PINGREQ_PACKET)
    assert kinds([r.packet(), r.packet()]) == [p.PINGRESP, p.PINGRESP]


@pytest.mark.broker_options(websockets=True)
@LEVELS
@pytest.mark.statements("3.1.1:MQTT-6.0.0-1", "5:MQTT-6.0.0-1")
def test_a_text_frame_closes_the_connection(
    configured: BrokerBase, level: int, departs: Callable[..., None]
) -> None:
    departs(
        "mosquitto",
        "2.0.11 reads a text frame's bytes as MQTT and keeps the connection",
        "3.1.1:MQTT-6.0.0-1",
        "5:MQTT-6.0.0-1",
    )
    r = ws(configured)
    r.connect(unique(), level=level)
    # the text is a whole, valid PUBLISH (all ASCII): a broker that reads text frames as MQTT
    # takes it and answers the PINGREQ behind it, so the case fails on that PINGRESP at once
    publish = p.encode_publish("ws/text", b"", 0, False, 0, False, level == 5, None)
    r.send_text(publish.decode("ascii"))
    r.send(p.PINGREQ_PACKET)
    seen = []
    with contextlib.suppress(Closed, ssl.SSLError):
        while True:
            first, body = r.packet()
            assert first >> 4 != p.PINGRESP, "the text frame was taken: PINGRESP came"
            seen.append((first, body))
    assert p.PINGRESP not in kinds(seen)
