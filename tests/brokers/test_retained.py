"""Retained messages on every local engine: set, replace, clear, and only to matching subscribers.

MQTT 3.1.1 [MQTT-3.3.1-5] (the server stores a retained message, replacing the one before),
[MQTT-3.3.1-6] (a new subscription gets the retained messages of matching topics),
[MQTT-3.3.1-10]/[MQTT-3.3.1-11] (an empty retained payload clears the topic and is not stored).
"""

from __future__ import annotations

import uuid

from mqtt_surge.brokers import BrokerBase
from mqtt_surge.testing import Publisher, RecordingSubscriber

from .._support import WAIT


def _subscriber(broker: BrokerBase, topic: str) -> RecordingSubscriber:
    return RecordingSubscriber(broker=broker.url, topic=topic, qos=1).start(timeout=WAIT)


def _marked(sub: RecordingSubscriber, publisher: Publisher, marker_topic: str) -> list[str]:
    """Publish a marker the subscriber matches and wait for it: the broker sends one client's
    messages in order, so everything sent to it before (a replay on CONNECT included) came first.
    Returns the topics received before the marker."""
    publisher.publish(marker_topic, b"marker", qos=1)
    sub.wait_until(lambda messages: any(m.topic == marker_topic for m in messages), timeout=WAIT)
    topics = [m.topic for m in sub.messages]
    return topics[: topics.index(marker_topic)]


def test_retained_message_is_set_replaced_and_cleared(broker: BrokerBase) -> None:
    prefix = f"retained/{uuid.uuid4().hex}"
    with Publisher(broker.url) as publisher:
        publisher.publish(f"{prefix}/state", b"first", qos=1, retain=True)
        publisher.publish(f"{prefix}/state", b"second", qos=1, retain=True)
        sub = _subscriber(broker, f"{prefix}/#")
        try:
            (message,) = sub.wait_for(1, timeout=WAIT)
            assert (message.payload, message.retain) == (b"second", True)
        finally:
            sub.stop()

        publisher.publish(f"{prefix}/state", b"", qos=1, retain=True)
        sub = _subscriber(broker, f"{prefix}/#")
        try:
            assert _marked(sub, publisher, f"{prefix}/marker") == []
        finally:
            sub.stop()


def test_retained_message_reaches_only_clients_whose_own_filter_matches(
    broker: BrokerBase,
) -> None:
    """Another client holding a filter that matches the retained topic must not make the broker
    hand that message to a newcomer that subscribed elsewhere (amqtt 0.12 does, on CONNECT)."""
    mine, theirs = f"iso/{uuid.uuid4().hex}", f"iso/{uuid.uuid4().hex}"
    with Publisher(broker.url) as publisher:
        holder = _subscriber(broker, f"{theirs}/#")
        try:
            publisher.publish(f"{theirs}/status", b"online", qos=1, retain=True)
            holder.wait_for(1, timeout=WAIT)
            for _ in range(3):  # several newcomers: a replay on every CONNECT shows on each
                newcomer = _subscriber(broker, f"{mine}/#")
                try:
                    assert _marked(newcomer, publisher, f"{mine}/marker") == []
                finally:
                    newcomer.stop()
        finally:
            holder.stop()
            publisher.publish(f"{theirs}/status", b"", qos=1, retain=True)
