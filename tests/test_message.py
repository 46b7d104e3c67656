import re

import pytest

from mqtt_surge import ConfigError, Message, as_text
from mqtt_surge.mqtt.topics import matches as filter_matches
from mqtt_surge.subscriber._message import build_message, validate_filter


def test_message_fields_helpers_and_immutability() -> None:
    message = Message("a/b", b'{"x": [1, 2]}', qos=1, retain=True, mid=7, received_at=3.5)
    assert message.text() == '{"x": [1, 2]}'
    assert message.json() == {"x": [1, 2]}
    assert (message.topic, message.qos, message.retain, message.mid) == ("a/b", 1, True, 7)
    assert message.properties is None
    with pytest.raises(AttributeError):
        message.topic = "c"  # type: ignore[misc]
    assert not hasattr(message, "__dict__")


def test_binary_payload_stays_bytes() -> None:
    message = Message("t", b"\xff\xfe\x00")
    assert message.payload == b"\xff\xfe\x00"
    with pytest.raises(UnicodeDecodeError):
        message.text()
    assert message.text(errors="replace") == "\ufffd\ufffd\x00"


def test_build_message_matches_the_constructor() -> None:
    fields = ("t/1", b"p", 1, False, 9, None, 12.5, 99)  # the 8th field is ignored
    assert build_message(fields) == Message("t/1", b"p", 1, False, 9, None, 12.5)
    assert type(build_message(fields)) is Message


def test_as_text_adapts_a_str_callback() -> None:
    seen: list[str] = []
    adapted = as_text(seen.append)
    adapted(Message("t", "héllo".encode()))
    assert seen == ["héllo"]


@pytest.mark.parametrize(
    "good", ["a", "a/b", "#", "+", "a/+/c", "a/#", "+/+/#", "/", "a//b", "$SYS/#", "$share/g/a/#"]
)
def test_valid_filters(good: str) -> None:
    assert validate_filter(good) == good


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        ("", "empty"),
        ("a/#/b", "'#' must be"),
        ("a#", "'#' must be"),
        ("a+", "'+' must be"),
        ("a/b+/c", "'+' must be"),
        ("a\x00b", "NUL"),
        ("$share/g", "shared subscription"),
        ("$share//a", "shared subscription"),
    ],
)
def test_invalid_filters_name_the_value(bad: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(needle)) as info:
        validate_filter(bad)
    assert repr(bad) in str(info.value) or needle == "empty"


def test_filter_must_be_a_string() -> None:
    with pytest.raises(ConfigError, match="must be a str"):
        validate_filter(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("filt", "topic", "expected"),
    [
        ("a/b", "a/b", True),
        ("a/b", "a/c", False),
        ("a/+", "a/b", True),
        ("a/+", "a/b/c", False),
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("#", "a/b", True),
        ("#", "$SYS/x", False),
        ("+/x", "$SYS/x", False),
        ("$SYS/#", "$SYS/x", True),
        ("+/+", "/x", True),
        ("$share/g/a/+", "a/b", True),
    ],
)
def test_filter_matching(filt: str, topic: str, expected: bool) -> None:
    assert filter_matches(filt, topic) is expected
