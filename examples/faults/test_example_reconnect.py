"""Your app's reconnect logic under a network fault: mqtt_faults sits between it and the broker."""

from mqtt_surge import Subscriber
from mqtt_surge.testing import Recorder


def start_app(broker_url, topic, handle):  # the application code under test
    return Subscriber(
        broker=broker_url,
        topic=topic,
        callback=handle,
        qos=1,
        client_id="my-app",
        clean_session=False,  # a persistent session: nothing lost
    ).start()


def test_app_comes_back_after_its_link_is_cut(mqtt_faults, mqtt_publish, mqtt_topic):
    seen = Recorder()
    app = start_app(mqtt_faults.url, f"{mqtt_topic}/#", seen)
    try:
        mqtt_publish(f"{mqtt_topic}/reading", b"before", qos=1)
        seen.wait_for(1)

        mqtt_faults.cut()  # reset every connection through the proxy
        mqtt_faults.wait_answered(2)  # the app reconnected on its own: the broker let it in

        mqtt_publish(f"{mqtt_topic}/reading", b"after", qos=1)
        got = seen.wait_until(lambda messages: b"after" in [m.payload for m in messages])
        assert {m.payload for m in got} == {b"before", b"after"}  # QoS 1: duplicates may come
    finally:
        app.stop()
