"""The head of a PUBLISH packet as both engines read it (mqtt/publish.py), from bytes
built here per MQTT 3.1.1 / 5 section 3.3 (fixed header 3.3.1, variable header 3.3.2)."""

from __future__ import annotations

import pytest

from mqtt_surge.mqtt.publish import read_head


def publish(
    topic: bytes, qos: int, mid: int = 0, rest: bytes = b"", retain: bool = False
) -> tuple[int, bytes]:
    cmd = 0x30 | (qos << 1) | int(retain)
    body = len(topic).to_bytes(2, "big") + topic + (mid.to_bytes(2, "big") if qos else b"") + rest
    return cmd, body


def test_qos_0_has_no_packet_id() -> None:
    cmd, raw = publish(b"a/b", 0, rest=b"payload")
    assert read_head(cmd, raw) == ("a/b", 0, False, 0, 5)
    assert raw[5:] == b"payload"


def test_qos_1_carries_its_packet_id_after_the_topic() -> None:
    cmd, raw = publish("ü/x".encode(), 1, mid=0x1234, rest=b"p", retain=True)
    topic, qos, retain, mid, start = read_head(cmd, bytearray(raw))  # type: ignore[misc]
    assert (topic, qos, retain, mid) == ("ü/x", 1, True, 0x1234)
    assert raw[start:] == b"p"


@pytest.mark.parametrize(
    ("cmd", "raw", "why"),
    [
        (*publish(b"a", 2, mid=7), "QoS 2: the library keeps its PUBREC/PUBREL state"),
        (*publish(b"", 0), "an empty topic: an alias under MQTT 5, malformed under 3.1.1"),
        (*publish(b"\xff\xfe", 0), "a topic that is not UTF-8"),
        (0x30, b"\x00", "shorter than the topic length"),
        (0x30, b"\x00\x09abc", "a topic length past the end"),
        (0x32, b"\x00\x01a\x00", "a packet id cut short"),
    ],
)
def test_what_the_library_reads_instead(cmd: int, raw: bytes, why: str) -> None:
    assert read_head(cmd, raw) is None, why
