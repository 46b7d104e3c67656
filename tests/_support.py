"""Test helpers that wait on signals from a real paho client, never on sleeps."""

from __future__ import annotations

import os
import threading
import uuid

import paho.mqtt.client as mqtt

from mqtt_surge import BrokerURL

WAIT = 10.0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def thread_names() -> list[str]:
    return sorted(t.name for t in threading.enumerate())


def roundtrip(url: BrokerURL, payload: bytes = b"hello", qos: int = 1) -> bytes:
    """Subscribe, publish one message, return it as received. Every step waits on its ack."""
    topic = f"roundtrip/{uuid.uuid4().hex}"
    connected, subscribed, got = threading.Event(), threading.Event(), threading.Event()
    received: list[bytes] = []

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"rt-{uuid.uuid4().hex[:8]}")
    if url.username is not None:
        client.username_pw_set(url.username, url.password)
    client.on_connect = lambda c, u, f, rc, p: connected.set()
    client.on_subscribe = lambda c, u, mid, rcs, p: subscribed.set()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        received.append(msg.payload)
        got.set()

    client.on_message = on_message
    client.connect(url.host, url.port)
    client.loop_start()
    try:
        assert connected.wait(WAIT), "no CONNACK"
        client.subscribe(topic, qos)
        assert subscribed.wait(WAIT), "no SUBACK"
        client.publish(topic, payload, qos).wait_for_publish(WAIT)
        assert got.wait(WAIT), "message never came back"
    finally:
        client.disconnect()
        client.loop_stop()
    return received[0]
