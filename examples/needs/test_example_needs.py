"""A test that says what it needs: it runs on a broker that has it. On --mqtt-broker=amqtt
(MQTT 3.1.1 only) it runs on the embedded broker instead; on a broker that lacks it otherwise,
it is skipped with the reason."""

import pytest


@pytest.mark.mqtt_broker(protocol=5, needs=["user_properties"])
def test_units_travel_as_user_properties(mqtt_subscriber, mqtt_publish, mqtt_topic):
    sub = mqtt_subscriber(mqtt_topic, qos=1, protocol=5)
    mqtt_publish(mqtt_topic, b"21.5", qos=1, properties={"user_properties": {"unit": "C"}})
    assert sub.wait_for(1)[0].properties.UserProperty == [("unit", "C")]
