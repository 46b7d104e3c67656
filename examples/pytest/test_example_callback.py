"""Your own callback runs inside the recorder; an exception it raises fails the test."""

import json


def test_my_handler_stores_readings(mqtt_subscriber, mqtt_publish, mqtt_topic):
    stored = {}

    def store_reading(message):  # the application code under test
        reading = message.json()
        stored[reading["sensor"]] = reading["value"]

    sub = mqtt_subscriber(f"{mqtt_topic}/readings", callback=store_reading, qos=1)
    mqtt_publish(f"{mqtt_topic}/readings", json.dumps({"sensor": "s1", "value": 3}), qos=1)
    mqtt_publish(f"{mqtt_topic}/readings", json.dumps({"sensor": "s2", "value": 4}), qos=1)

    sub.wait_for(2)
    assert stored == {"s1": 3, "s2": 4}
