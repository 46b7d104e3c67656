"""The example app's MQTT handlers: what a team would pass to ``--probe-callback``.

``on_reading`` keeps the latest payload of each sensor and a count per sensor: it takes any
payload. ``on_reading_json`` expects JSON telemetry and raises on anything else, which is what the
load suite's own sequence-numbered payloads are: a run with it fails, and the verdict shows why.
"""

from __future__ import annotations

import threading
from collections import Counter

from mqtt_surge import Message

_lock = threading.Lock()  # workers call the handler from several threads at once
latest: dict[str, bytes] = {}
counts: Counter[str] = Counter()


def on_reading(message: Message) -> None:
    sensor = message.topic.rsplit("/", 1)[-1]
    with _lock:
        latest[sensor] = message.payload
        counts[sensor] += 1


def on_reading_json(message: Message) -> None:
    reading = message.json()  # raises on a payload that is not JSON
    with _lock:
        counts[str(reading.get("sensor", "?"))] += 1


async def on_reading_async(message: Message) -> None:
    """``on_reading`` as an ``async def`` handler (it would await a database write here)."""
    on_reading(message)
