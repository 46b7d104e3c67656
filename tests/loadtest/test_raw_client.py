"""The load suite's raw client (``--mqtt-client raw``), in a gevent-patched process as Locust
runs it, against real brokers: what it writes is what the brokers read, what it counts is what
they acknowledged, and what they refuse or cut is an error, not a count."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from mqtt_surge import EmbeddedBroker, MosquittoBroker
from mqtt_surge.brokers import BrokerBase
from mqtt_surge.testing import RecordingSubscriber, unpack_header
from mqtt_surge.testing.sequence import parse_sequence_text

from .._support import WAIT

CHILD = Path(__file__).with_name("_raw_child.py")
SIZE = 64


def client_id(topic: str) -> str:
    return "raw-" + topic.rsplit("/", 1)[-1][:12]


def run_raw(url: str, level: int, qos: int, count: int, topic: str, *extra: str) -> Any:
    """Publish ``count`` messages as one batch from a child process; what it reported."""
    result = subprocess.run(
        [
            sys.executable,
            str(CHILD),
            url,
            str(level),
            str(qos),
            str(count),
            str(SIZE),
            topic,
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


@pytest.mark.parametrize("qos", [0, 1])
@pytest.mark.parametrize("level", [4, 5])
def test_a_batch_is_read_by_the_broker_as_the_packets_it_meant(
    embedded: EmbeddedBroker, level: int, qos: int
) -> None:
    topic = f"raw/{uuid.uuid4().hex}"
    reported = run_raw(embedded.url.full, level, qos, 500, topic)
    assert reported == {"published": 500, "error": None, "sent": 500}
    read = embedded.packets.wait_until(
        lambda log: sum(r.type == "PUBLISH" and r.topic == topic for r in log) >= 500, WAIT
    )
    assert read, "the broker did not read 500 PUBLISH packets"
    publishes = embedded.packets.publishes(topic)
    assert [r.error for r in publishes if r.error] == []
    assert {r.qos for r in publishes} == {qos}
    headers = [unpack_header(r.payload or b"") for r in publishes]
    assert [h.sequence for h in headers if h] == list(range(500))
    assert {len(r.payload or b"") for r in publishes} == {SIZE}
    if qos:  # each in-flight packet id once
        assert len({r.packet_id for r in publishes}) == 500


@pytest.mark.parametrize("broker", ["embedded", "mosquitto"], indirect=True)
def test_every_message_arrives_at_a_subscriber_once(broker: BrokerBase) -> None:
    topic = f"raw/{uuid.uuid4().hex}"
    subscriber = RecordingSubscriber(broker=broker.url, topic=topic, qos=1).start(timeout=WAIT)
    try:
        reported = run_raw(broker.url.full, 4, 1, 2000, topic)
        assert reported["published"] == reported["sent"] == 2000
        messages = subscriber.wait_for(2000, timeout=WAIT * 3)
    finally:
        subscriber.stop()
    sequences = [h.sequence for m in messages if (h := unpack_header(m.payload))]
    assert sorted(sequences) == list(range(2000))


def test_the_sequence_in_a_user_property_reaches_the_subscriber(embedded: EmbeddedBroker) -> None:
    topic = f"raw/{uuid.uuid4().hex}"
    reported = run_raw(embedded.url.full, 5, 1, 50, topic, "properties")
    assert reported["published"] == 50
    texts = [dict(r.properties.get(0x26, [])) for r in embedded.packets.publishes(topic)]
    found = [parse_sequence_text(t.get("mqtt-surge-seq")) for t in texts]
    assert [h.sequence for h in found if h] == list(range(50))


def test_a_refused_publish_is_an_error_and_not_counted() -> None:
    # MQTT 5: a PUBACK with reason 0x87 (not authorized) means the message was not published
    acl = "user app\ntopic read raw/#\n"
    with EmbeddedBroker(users={"app": "pw"}, acl=acl) as broker:
        url = f"mqtt://app:pw@{broker.host}:{broker.port}"
        reported = run_raw(url, 5, 1, 20, "raw/denied")
    assert reported["published"] == reported["sent"] == 0
    assert "0x87" in reported["error"]


def test_a_connection_the_broker_cuts_is_reported(embedded: EmbeddedBroker) -> None:
    topic = f"raw/{uuid.uuid4().hex}"
    embedded.faults.disconnect(client_id(topic), after_packets=5)
    reported = run_raw(embedded.url.full, 4, 1, 200, topic)
    assert reported["error"] is not None
    assert "ConnectionError" in reported["error"] or "Reset" in reported["error"]
    assert reported["published"] == reported["sent"] < 200


def test_a_mosquitto_broker_sees_the_same_bytes(mosquitto: MosquittoBroker) -> None:
    # QoS 0 at MQTT 5: mosquitto drops a client whose packet it cannot parse, so a run that
    # ends with every message delivered proves the framing (lengths, empty properties)
    topic = f"raw/{uuid.uuid4().hex}"
    subscriber = RecordingSubscriber(broker=mosquitto.url, topic=topic, qos=0).start(timeout=WAIT)
    try:
        reported = run_raw(mosquitto.url.full, 5, 0, 300, topic)
        messages = subscriber.wait_for(300, timeout=WAIT)
    finally:
        subscriber.stop()
    assert reported == {"published": 300, "error": None, "sent": 300}
    assert [unpack_header(m.payload).sequence for m in messages] == list(range(300))  # type: ignore[union-attr]


def test_qos_2_is_refused_naming_the_client_that_has_it(embedded: EmbeddedBroker) -> None:
    result = subprocess.run(
        [sys.executable, str(CHILD), embedded.url.full, "4", "2", "10", str(SIZE), "raw/q2"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "ConfigError: the raw client publishes at QoS 0 or 1, not 2" in result.stderr
    assert not embedded.packets.publishes("raw/q2")  # refused before anything was written
