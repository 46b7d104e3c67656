"""A downstream app on paho-mqtt with MQTT 5 user properties and request/response."""

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def send_reading(client, topic, celsius):
    """The app's code under test: a reading with its unit in a user property."""
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = [("unit", "C")]
    props.ResponseTopic = f"{topic}/ack"
    props.CorrelationData = b"reading-1"
    return client.publish(topic, str(celsius).encode(), qos=1, properties=props)


def test_reading_carries_its_unit(mqtt_broker, mqtt_subscriber, mqtt_topic):
    sub = mqtt_subscriber(mqtt_topic, qos=1, protocol=5)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect(mqtt_broker.host, mqtt_broker.port)
    client.loop_start()
    try:
        send_reading(client, mqtt_topic, 21.5).wait_for_publish(timeout=10)
        (message,) = sub.wait_for(1)
    finally:
        client.loop_stop()
        client.disconnect()
    assert message.payload == b"21.5"
    assert message.properties.UserProperty == [("unit", "C")]
    assert message.properties.ResponseTopic == f"{mqtt_topic}/ack"
    assert message.properties.CorrelationData == b"reading-1"
