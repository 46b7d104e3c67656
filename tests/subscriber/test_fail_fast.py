"""A start that the broker already answered with "no" fails at once, with the broker's reason,
never after waiting out its timeout."""

from __future__ import annotations

import socket
import time

import pytest

from mqtt_surge import ConnectError, Subscriber
from mqtt_surge.brokers import BrokerBase

START_TIMEOUT = 30.0
AT_ONCE = 10.0  # generous: the point is "not the whole START_TIMEOUT"


def _start_failing(sub: Subscriber) -> tuple[ConnectError, float]:
    started = time.monotonic()
    with pytest.raises(ConnectError) as caught:
        sub.start(timeout=START_TIMEOUT)
    return caught.value, time.monotonic() - started


def test_an_mqtt5_connect_to_a_311_only_broker_fails_at_once_naming_the_fix(
    amqtt: BrokerBase, topic: str
) -> None:
    error, took = _start_failing(Subscriber(amqtt.url, topic, print, protocol=5))
    assert took < AT_ONCE
    assert error.reason == "refused"
    assert "does not speak the MQTT version" in str(error)
    assert "--mqtt-broker=embedded" in str(error)


def test_a_refused_tcp_connection_fails_at_once_with_its_reason(topic: str) -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    error, took = _start_failing(Subscriber(f"mqtt://127.0.0.1:{port}", topic, print))
    assert took < AT_ONCE
    assert error.reason == "unreachable"
    assert "refused" in str(error).lower()
