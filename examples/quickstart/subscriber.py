"""The subscriber in an application: a callback per message, in the background. The broker
here is an embedded one so that the example runs anywhere; yours is a URL."""

import threading

from mqtt_surge import EmbeddedBroker, Subscriber
from mqtt_surge.testing.publisher import Publisher

arrived = threading.Event()


def handle(message):  # a Message: topic, payload (bytes), qos, retain, ...
    print(message.topic, message.text())
    arrived.set()


with EmbeddedBroker() as broker:  # in production: broker="mqtt://user:pass@host:1883"
    sub = Subscriber(broker=broker.url, topic="sensors/#", callback=handle).start()

    publisher = Publisher(broker.url).connect()
    publisher.publish("sensors/kitchen", b"21.5", qos=1)  # returns after PUBACK
    publisher.close()

    assert arrived.wait(10)
    stats = sub.stop()  # drains, joins every thread, returns the final Stats
    assert stats.received == stats.processed == 1
