"""An app whose handler must be idempotent: at QoS 1 a broker may deliver a message twice. Ours
does it on demand (``broker.faults.deliver_twice``), and the test checks the app charged once."""

import json
import threading

import pytest


class Billing:
    """The app: charges each order once, however often it arrives."""

    def __init__(self):
        self.charged = []
        self._seen = set()
        self._lock = threading.Lock()  # handlers run on worker threads, side by side

    def handle(self, message):
        order = json.loads(message.payload)
        with self._lock:
            if order["id"] in self._seen:
                return  # a second delivery of the same order: already charged
            self._seen.add(order["id"])
            self.charged.append(order["amount"])


@pytest.mark.mqtt_broker(needs=["protocol_faults"])
def test_an_order_delivered_twice_is_charged_once(
    mqtt_broker, mqtt_subscriber, mqtt_publish, mqtt_topic
):
    billing = Billing()
    orders = f"{mqtt_topic}/orders"
    sub = mqtt_subscriber(orders, billing.handle, qos=1)
    mqtt_broker.faults.deliver_twice(orders)

    mqtt_publish(orders, json.dumps({"id": 7, "amount": 30}), qos=1)

    sub.wait_for(2)  # both deliveries reached the app
    assert billing.charged == [30]
    # the broker's view: two PUBLISH packets went out for one that came in
    assert len(mqtt_broker.packets.publishes(orders, direction="out")) == 2
