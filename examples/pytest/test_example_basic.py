"""A subscriber under test, a real broker, a publisher: no Docker, no sleeps."""


def test_the_subscriber_sees_what_is_published(mqtt_subscriber, mqtt_publish, mqtt_topic):
    sub = mqtt_subscriber(f"{mqtt_topic}/sensors/#")  # started: its SUBACK arrived

    mqtt_publish(f"{mqtt_topic}/sensors/kitchen", b"21.5", qos=1)  # returns after PUBACK

    (message,) = sub.wait_for(1)  # waits on a signal, fails with what did arrive
    assert message.topic.endswith("/sensors/kitchen")
    assert float(message.text()) == 21.5
