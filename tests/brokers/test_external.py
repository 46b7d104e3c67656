"""A broker somebody else runs."""

from __future__ import annotations

import socket
import time

import pytest

from mqtt_surge import BrokerStartError, ExternalBroker, MosquittoBroker, parse_broker


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_url_fails_clearly_within_the_timeout() -> None:
    port = _closed_port()
    started = time.monotonic()
    with pytest.raises(BrokerStartError, match="unreachable") as info:
        ExternalBroker(f"mqtt://bob:hunter2@127.0.0.1:{port}").start(timeout=3)
    assert time.monotonic() - started < 30
    assert "hunter2" not in str(info.value)
    assert f"127.0.0.1:{port}" in str(info.value)


def test_silent_listener_times_out_with_a_clear_message() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(BrokerStartError, match=r"no CONNACK within 0\.5s"):
            ExternalBroker(f"mqtt://127.0.0.1:{port}").start(timeout=0.5)


def test_password_absent_from_every_rendering() -> None:
    broker = ExternalBroker("mqtt://bob:hunter2@localhost:1884")
    for text in (repr(broker), str(broker), repr(broker.url), str(broker.url), broker.url.redacted):
        assert "hunter2" not in text
        assert "localhost" in text
    assert broker.url.password == "hunter2"


def test_a_running_broker_is_usable() -> None:
    with MosquittoBroker(username="u", password="p") as real:
        external = ExternalBroker(real.url.full).start(timeout=5)
        assert external.running
        assert external.url == parse_broker(real.url.full)
        external.stop()
        # stopping an external broker stops nothing
        ExternalBroker(real.url).start(timeout=5)
