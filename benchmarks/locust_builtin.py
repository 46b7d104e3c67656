"""Locust's own experimental MQTT user, for the side-by-side publish-rate figure.

Used by benchmarks/locust_publish.py and locust_fleet.py; not a check of anything. MQTT_HOST /
MQTT_PORT / MQTT_QOS / MQTT_WAIT (seconds between publishes, 0 by default) come from the
environment.
"""

import os

from locust import constant, task
from locust.contrib.mqtt import MqttUser


class BuiltinPublisher(MqttUser):
    host = os.environ.get("MQTT_HOST", "127.0.0.1")
    port = int(os.environ.get("MQTT_PORT", "1883"))
    wait_time = constant(float(os.environ.get("MQTT_WAIT", "0")))

    @task
    def publish_one(self) -> None:
        self.client.publish("bench/builtin", b"x" * 64, qos=int(os.environ.get("MQTT_QOS", "1")))
