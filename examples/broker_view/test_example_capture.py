"""The broker's view of what an app published: no subscription to set up before, nothing
missed, and "nothing was published" checked without a sentinel message."""

import pytest


def on_reading(publish, topic, celsius):
    """The app: a reading, and an alert when it is too hot."""
    publish(f"{topic}/readings", str(celsius).encode(), qos=1)
    if celsius > 30:
        publish(f"{topic}/alerts", b"too hot", qos=1, retain=True)


@pytest.mark.mqtt_broker(needs=["packet_capture"])
def test_an_alert_only_when_too_hot(mqtt_capture, mqtt_publish, mqtt_topic):
    on_reading(mqtt_publish, mqtt_topic, 21.5)
    mqtt_capture.on(f"{mqtt_topic}/readings/#").wait_for(1)
    mqtt_capture.assert_nothing(f"{mqtt_topic}/alerts/#", within=0.2)

    on_reading(mqtt_publish, mqtt_topic, 35.0)
    (alert,) = mqtt_capture.on(f"{mqtt_topic}/alerts").wait_for(1)
    assert (alert.payload, alert.qos, alert.retain) == (b"too hot", 1, True)
