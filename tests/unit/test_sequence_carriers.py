"""Where a message carries its sequence: the header, an MQTT 5 user property, a JSON field."""

from __future__ import annotations

import json

import pytest

from mqtt_surge import ConfigError, Message
from mqtt_surge.subscriber.transports.paho import publish_properties
from mqtt_surge.testing.sequence import (
    SEQUENCE_PROPERTY,
    Header,
    check_carrier,
    read_sequence,
    sequence_text,
    sequenced_payload,
)


def _message(payload: bytes, properties: object = None) -> Message:
    return Message("t", payload, 1, False, 1, properties, 0.0)


def test_the_header_is_found_whatever_the_carrier() -> None:
    header, found_in = read_sequence(_message(sequenced_payload(7, 3)), "properties")
    assert (header.publisher_id, header.sequence, found_in) == (7, 3, "header")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "properties",
    [
        publish_properties({"UserProperty": [(SEQUENCE_PROPERTY, "7:3:12.5")]}),  # paho's
        {"user_property": [(SEQUENCE_PROPERTY, "7:3:12.5")]},  # gmqtt's
    ],
    ids=["paho", "gmqtt"],
)
def test_a_user_property_carries_it(properties: object) -> None:
    found = read_sequence(_message(b'{"a": 1}', properties), "properties")
    assert found == (Header(7, 3, 12.5), "properties")


def test_a_json_field_carries_it() -> None:
    payload = json.dumps({"temp": 21.5, "seq": sequence_text(7, 3, 12.5)}).encode()
    assert read_sequence(_message(payload), "field:seq") == (Header(7, 3, 12.5), "field")
    assert read_sequence(_message(payload), "field:other") == (None, "")


@pytest.mark.parametrize(
    ("payload", "carrier"),
    [(b"not json", "field:seq"), (b"[1, 2]", "field:seq"), (b'{"seq": "7:x:1"}', "field:seq")],
)
def test_a_message_without_a_readable_sequence_is_unsequenced(payload: bytes, carrier: str) -> None:
    assert read_sequence(_message(payload), carrier) == (None, "")


def test_carriers_are_checked_at_the_boundary() -> None:
    assert check_carrier("field:seq") == "field:seq"
    for bad in ("payload", "field:", "Properties"):
        with pytest.raises(ConfigError, match="header, properties or field:NAME"):
            check_carrier(bad)
