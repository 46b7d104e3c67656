""" "The session expires after its Session Expiry Interval": with the broker's clock advanced by
the test it takes milliseconds and is the same every time; in real time it takes as long as the
interval and a margin. Both are here, side by side."""

import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def session_present(url, client_id, expiry):
    """The app's reconnect: a persistent MQTT 5 session; whether the broker still had it."""
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
    )
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = expiry
    present, connected = [], threading.Event()

    def on_connect(_client, _userdata, flags, _reason, _props):
        present.append(flags.session_present)
        connected.set()

    client.on_connect = on_connect
    client.connect(url.host, url.port, clean_start=False, properties=props)
    client.loop_start()
    try:
        assert connected.wait(10)
    finally:
        client.disconnect()
        client.loop_stop()
    return present[0]


@pytest.mark.mqtt_broker(clock="manual")
def test_the_session_expires_after_300_s_on_the_brokers_clock(mqtt_broker):
    assert session_present(mqtt_broker.url, "meter-1", expiry=300) is False  # a new session
    mqtt_broker.wait_disconnected("meter-1")  # the session's 300 s start when the broker sees it
    mqtt_broker.clock.advance(299)
    assert session_present(mqtt_broker.url, "meter-1", expiry=300) is True
    mqtt_broker.wait_disconnected("meter-1")
    mqtt_broker.clock.advance(300)
    assert session_present(mqtt_broker.url, "meter-1", expiry=300) is False


@pytest.mark.mqtt_broker(protocol=5, needs=["session_expiry"])
def test_the_session_expires_after_1_s_in_real_time(mqtt_broker):
    assert session_present(mqtt_broker.url, "meter-2", expiry=1) is False
    # real time is the subject: nothing to wait on but it (mosquitto checks expiry about once
    # a second, so a margin)
    threading.Event().wait(3)
    assert session_present(mqtt_broker.url, "meter-2", expiry=1) is False
