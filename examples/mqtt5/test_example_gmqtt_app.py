"""A downstream app on gmqtt, which speaks MQTT 5 unless told otherwise."""

import gmqtt
import pytest


@pytest.mark.asyncio
async def test_app_announces_itself(mqtt_broker, mqtt_subscriber, mqtt_topic):
    sub = mqtt_subscriber(f"{mqtt_topic}/#", qos=1, protocol=5)
    app = gmqtt.Client("downstream-gmqtt-app")
    await app.connect(mqtt_broker.host, mqtt_broker.port)  # MQTT 5: gmqtt's default
    app.publish(f"{mqtt_topic}/state", b"ready", qos=1, user_property=[("app", "gmqtt")])
    (message,) = await sub.async_wait_for(1)
    await app.disconnect()
    assert message.payload == b"ready"
    assert message.properties.UserProperty == [("app", "gmqtt")]
