"""The subscriber over MQTT-over-WebSocket (ws:// and wss://) on both local engines, and the
gmqtt engine's refusal of a WebSocket URL (gmqtt 0.8 has no WebSocket transport)."""

from __future__ import annotations

import pytest

from mqtt_surge import ConfigError, Subscriber
from mqtt_surge.brokers import broker_from_spec
from mqtt_surge.testing import Publisher, Recorder


@pytest.mark.parametrize("engine", ["embedded", "mosquitto"])
@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
def test_the_subscriber_receives_over_a_websocket(engine: str, tls: bool, topic: str) -> None:
    with broker_from_spec(engine, websockets=True, tls=tls) as broker:
        assert broker.url.scheme == ("wss" if tls else "ws")
        recorder = Recorder()
        sub = Subscriber(broker=broker, topic=f"{topic}/#", callback=recorder, qos=1).start()
        try:
            with Publisher(broker) as publisher:  # over the WebSocket listener too
                for i in range(3):
                    publisher.publish(f"{topic}/{i}", str(i).encode(), qos=1)
            assert [m.payload for m in recorder.wait_for(3)] == [b"0", b"1", b"2"]
        finally:
            stats = sub.stop()
        assert stats.received == 3


def test_gmqtt_refuses_a_websocket_url_naming_the_engine_that_has_it(topic: str) -> None:
    sub = Subscriber(broker="ws://127.0.0.1:9/mqtt", topic=topic, callback=print, engine="gmqtt")
    with pytest.raises(ConfigError, match=r"gmqtt 0\.8 has no WebSocket transport.*engine='paho'"):
        sub.start(timeout=5)
    assert not sub.running
