"""Messages reach callbacks, against both real engines."""

from __future__ import annotations

import threading

import pytest

from mqtt_surge import AsyncioLoopWarning, Message, MQTTSubscriber, Subscriber, as_text
from mqtt_surge.brokers import BrokerBase
from mqtt_surge.testing import Publisher, Recorder

from .._support import WAIT


def test_delivery_and_message_fields(broker: BrokerBase, topic: str, engine: str) -> None:
    recorder = Recorder()
    with (
        Subscriber(broker=broker.url, topic=f"{topic}/#", callback=recorder, qos=1) as sub,
        Publisher(broker.url) as pub,
    ):
        pub.publish(f"{topic}/a", b"\x00\xffbinary", qos=1)
        (message,) = recorder.wait_for(1)
    assert isinstance(message, Message)
    assert message.topic == f"{topic}/a"
    assert message.payload == b"\x00\xffbinary"
    assert message.qos == 1
    assert message.retain is False
    # the packet id, on both engines (the gmqtt engine reads PUBLISH packets itself)
    assert message.mid > 0
    assert message.received_at > 0
    stats = sub.stats()
    assert (stats.received, stats.processed) == (1, 1)
    assert stats.accounted


@pytest.fixture(params=["mosquitto", "embedded"])
def v5_broker(request: pytest.FixtureRequest) -> BrokerBase:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


def _comparable(properties: object) -> object:
    # paho's Properties have no equality of their own; their JSON form does
    json = getattr(properties, "json", None)
    return json() if callable(json) else properties


@pytest.mark.parametrize("protocol", [4, 5])
def test_publishes_read_by_the_engine_match_the_librarys_own(
    v5_broker: BrokerBase, topic: str, protocol: int, engine: str
) -> None:
    """Both engines read QoS 0 and 1 PUBLISH packets themselves (transports/_publish.py) and
    leave QoS 2 to the client library: a message must come out of both paths the same."""
    props = {"user_properties": [("k", "v")], "content_type": "text/x"} if protocol == 5 else None
    recorder = Recorder()
    with Publisher(v5_broker.url, protocol=protocol) as pub:
        for qos in (1, 2):  # retained before anyone subscribes: they come with RETAIN set
            pub.publish(f"{topic}/r{qos}", b"kept", qos=qos, retain=True, properties=props)
        try:
            with Subscriber(v5_broker.url, f"{topic}/#", recorder, qos=2, protocol=protocol):
                for qos in (0, 1, 2):
                    pub.publish(f"{topic}/q{qos}", b"\x00\xffsame", qos=qos, properties=props)
                got = {m.topic.rsplit("/", 1)[1]: m for m in recorder.wait_for(5)}
        finally:
            for name in ("r1", "r2"):  # leave no retained message behind
                pub.publish(f"{topic}/{name}", b"", qos=1, retain=True)
    assert [got[f"q{qos}"].qos for qos in (0, 1, 2)] == [0, 1, 2]
    assert (got["q0"].mid, got["q1"].mid > 0) == (0, True)
    for ours, library in (("q0", "q2"), ("q1", "q2"), ("r1", "r2")):
        assert got[ours].payload == got[library].payload
        assert got[ours].retain == got[library].retain
        assert _comparable(got[ours].properties) == _comparable(got[library].properties)
    assert (got["r1"].retain, got["q1"].retain) == (True, False)
    if protocol == 4:
        assert got["q1"].properties is None
    elif engine == "gmqtt":
        assert got["q1"].properties == {"user_property": [("k", "v")], "content_type": ["text/x"]}
    else:
        assert got["q1"].properties.UserProperty == [("k", "v")]
        assert got["q1"].properties.ContentType == "text/x"


def test_original_names_and_defaults(embedded: BrokerBase, topic: str) -> None:
    assert MQTTSubscriber is Subscriber
    seen: list[str] = []
    done = threading.Event()

    def on_text(text: str) -> None:
        seen.append(text)
        done.set()

    # the original design's call, with the adapter for its str-taking callback
    sub = MQTTSubscriber(
        broker=str(embedded.url),
        topic=topic,
        callback=as_text(on_text),
        max_queue_size=1000,
        worker_threads=4,
    )
    sub.start()
    try:
        with Publisher(embedded.url) as pub:
            pub.publish(topic, "héllo", qos=1)
            assert done.wait(WAIT)
    finally:
        sub.stop()
    assert seen == ["héllo"]


def test_broker_given_as_host_port_or_engine(embedded: BrokerBase, topic: str) -> None:
    for spec in (f"{embedded.host}:{embedded.port}", embedded):
        recorder = Recorder()
        with Subscriber(broker=spec, topic=topic, callback=recorder), Publisher(embedded.url) as p:
            p.publish(topic, b"x", qos=1)
            recorder.wait_for(1)


def test_several_filters_with_their_own_qos(mosquitto: BrokerBase, topic: str) -> None:
    recorder = Recorder()
    with (
        Subscriber(
            broker=mosquitto.url,
            topic=[(f"{topic}/q0", 0), (f"{topic}/q1", 1)],
            callback=recorder,
        ) as sub,
        Publisher(mosquitto.url) as pub,
    ):
        assert sub.topics == [(f"{topic}/q0", 0), (f"{topic}/q1", 1)]
        pub.publish(f"{topic}/q0", b"a", qos=1)
        pub.publish(f"{topic}/q1", b"b", qos=1)
        got = {m.topic: m.qos for m in recorder.wait_for(2)}
    # mosquitto delivers min(publish QoS, subscription QoS)
    assert got == {f"{topic}/q0": 0, f"{topic}/q1": 1}


def test_routing_callbacks_by_wildcard(broker: BrokerBase, topic: str) -> None:
    temps, humidity, rest = Recorder(), Recorder(), Recorder()
    with (
        Subscriber(
            broker=broker.url,
            topic=f"{topic}/#",
            callback=rest,
            callbacks={f"{topic}/+/temp": temps, f"{topic}/+/humidity": humidity},
        ),
        Publisher(broker.url) as pub,
    ):
        for sensor in ("s1", "s2"):
            pub.publish(f"{topic}/{sensor}/temp", b"21", qos=1)
            pub.publish(f"{topic}/{sensor}/humidity", b"40", qos=1)
        pub.publish(f"{topic}/s1/status", b"ok", qos=1)
        temps.wait_for(2)
        humidity.wait_for(2)
        rest.wait_for(1)
    assert {m.topic for m in temps.messages} == {f"{topic}/s1/temp", f"{topic}/s2/temp"}
    assert [m.topic for m in rest.messages] == [f"{topic}/s1/status"]


def test_callbacks_alone_subscribe_to_their_filters(embedded: BrokerBase, topic: str) -> None:
    recorder = Recorder()
    sub = Subscriber(broker=embedded.url, callbacks={f"{topic}/+": recorder})
    assert sub.topics == [(f"{topic}/+", 0)]
    with sub, Publisher(embedded.url) as pub:
        pub.publish(f"{topic}/x", b"1", qos=1)
        recorder.wait_for(1)


def test_mqtt5_properties(mosquitto: BrokerBase, topic: str) -> None:
    recorder = Recorder()
    with (
        Subscriber(broker=mosquitto.url, topic=topic, callback=recorder, protocol=5, qos=1),
        Publisher(mosquitto.url) as pub,
    ):
        pub.publish(topic, b"v5", qos=1)
        (message,) = recorder.wait_for(1)
    assert message.payload == b"v5"
    assert message.properties is not None


def test_credentials_from_url_or_arguments(topic: str) -> None:
    from mqtt_surge import MosquittoBroker

    with MosquittoBroker(username="u", password="p") as secured:
        recorder = Recorder()
        plain = f"mqtt://{secured.host}:{secured.port}"
        with (
            Subscriber(broker=plain, topic=topic, callback=recorder, username="u", password="p"),
            Publisher(secured.url) as pub,
        ):
            pub.publish(topic, b"ok", qos=1)
            recorder.wait_for(1)


@pytest.mark.asyncio
async def test_async_with(embedded: BrokerBase, topic: str) -> None:
    recorder = Recorder()
    subscriber = Subscriber(broker=embedded.url, topic=topic, callback=recorder)
    with pytest.warns(AsyncioLoopWarning, match="Consider using an async callback"):
        await subscriber.__aenter__()
    async with subscriber as sub:  # entering again is a no-op: it is already running
        assert sub.running
        with Publisher(embedded.url) as pub:
            pub.publish(topic, b"a", qos=1)
        recorder.wait_for(1)
    assert not sub.running
    assert sub.stats().processed == 1


def test_the_engine_in_use_is_the_one_asked_for(
    embedded: BrokerBase, topic: str, engine: str
) -> None:
    recorder = Recorder()
    with Subscriber(broker=embedded.url, topic=topic, callback=recorder) as sub:
        assert sub.engine == engine
        network = [
            t.name for t in threading.enumerate() if t.name == f"mqtt-surge-gmqtt-{sub.client_id}"
        ]
        # gmqtt runs on a loop thread of ours; paho's own thread has paho's name
        assert bool(network) == (engine == "gmqtt"), network
        with Publisher(embedded.url) as pub:
            pub.publish(topic, b"x")
            recorder.wait_for(1)
