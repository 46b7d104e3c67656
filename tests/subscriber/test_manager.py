"""MQTTManager: the broker first, then the subscribers; stopped in the opposite order."""

from __future__ import annotations

import pytest

from mqtt_surge import ConfigError, EmbeddedBroker, MQTTManager, Subscriber
from mqtt_surge.testing import Publisher, Recorder


def test_manager_with_an_engine_spec_and_subscriber_configs(topic: str) -> None:
    first, second = Recorder(), Recorder()
    manager = MQTTManager(
        "embedded",
        subscribers=[
            {"topic": f"{topic}/a", "callback": first},
            {"topic": f"{topic}/b", "callback": second, "qos": 1},
        ],
    )
    with manager:
        assert manager.broker is not None
        assert manager.broker.running
        assert all(s.running for s in manager.subscribers)
        with Publisher(manager.broker.url) as pub:
            pub.publish(f"{topic}/a", b"1", qos=1)
            pub.publish(f"{topic}/b", b"2", qos=1)
            first.wait_for(1)
            second.wait_for(1)
    assert not manager.broker.running
    assert not any(s.running for s in manager.subscribers)


def test_the_original_designs_form(topic: str) -> None:
    recorder = Recorder()
    manager = MQTTManager(
        broker_config={"engine": "mosquitto"},
        subscriber_config={"topic": topic, "callback": recorder, "max_queue_size": 50},
    )
    manager.start()
    try:
        assert manager.broker is not None
        with Publisher(manager.broker.url) as pub:
            pub.publish(topic, b"x", qos=1)
        recorder.wait_for(1)
    finally:
        (stats,) = manager.stop()
    assert stats.processed == 1


def test_subscriber_objects_and_a_broker_object(topic: str) -> None:
    broker = EmbeddedBroker()
    recorder = Recorder()
    # the broker has no port yet: the subscriber reads its URL when it starts
    sub = Subscriber(broker=broker, topic=topic, callback=recorder)
    with MQTTManager(broker, [sub]):
        with Publisher(broker.url) as pub:
            pub.publish(topic, b"x", qos=1)
        recorder.wait_for(1)


def test_a_failing_subscriber_stops_the_broker_again(topic: str) -> None:
    manager = MQTTManager(
        "embedded",
        subscribers=[
            {
                "broker": "mqtt://u:bad@127.0.0.1:1",
                "topic": topic,
                "callback": print,
            }
        ],
    )
    with pytest.raises(Exception, match=r"127\.0\.0\.1:1"):
        manager.start(timeout=1)
    assert manager.broker is not None
    assert not manager.broker.running


def test_bad_manager_input() -> None:
    with pytest.raises(ConfigError, match="not both"):
        MQTTManager("embedded", broker_config={"engine": "embedded"})
    with pytest.raises(ConfigError, match="broker"):
        MQTTManager(subscribers=[{"topic": "t", "callback": print}])
    with pytest.raises(TypeError, match="Subscriber objects or dicts"):
        MQTTManager("embedded", subscribers=["t"])  # type: ignore[list-item]
