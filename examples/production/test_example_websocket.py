"""A browser-like client: paho over WebSocket (ws://, path /mqtt) against a broker with a
WebSocket listener; the fixtures use the same listener."""

import threading

import paho.mqtt.client as mqtt
import pytest


@pytest.mark.mqtt_broker(websockets=True)
def test_a_paho_websocket_client_gets_what_is_published(mqtt_broker, mqtt_publish, mqtt_topic):
    url = mqtt_broker.url  # ws://127.0.0.1:<port>/mqtt
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, transport="websockets")
    client.ws_set_options(path=url.path)
    subscribed, received, got = threading.Event(), threading.Event(), []

    def on_message(_client, _userdata, message):
        got.append(message.payload)
        received.set()

    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = on_message
    client.connect(url.host, url.port)
    client.loop_start()
    try:
        client.subscribe(f"{mqtt_topic}/#", qos=1)
        assert subscribed.wait(10)
        mqtt_publish(f"{mqtt_topic}/hello", b"over a websocket", qos=1)
        assert received.wait(10)
        assert got == [b"over a websocket"]
    finally:
        client.disconnect()
        client.loop_stop()
