"""The mosquitto engine: a child process with a generated config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mqtt_surge import BrokerStartError, EngineNotInstalledError, MosquittoBroker
from mqtt_surge.brokers import mosquitto as mosquitto_module

from .._support import roundtrip


def test_binary_missing_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("MQTT_SURGE_MOSQUITTO", raising=False)
    monkeypatch.setattr(mosquitto_module, "FALLBACK_LOCATIONS", ())
    broker = MosquittoBroker()
    with pytest.raises(EngineNotInstalledError) as info:
        broker.start()
    message = str(info.value)
    assert "apt-get install mosquitto" in message
    assert "embedded" in message
    assert "MQTT_SURGE_MOSQUITTO" in message
    assert not broker.running


def test_explicit_executable_missing(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-mosquitto"
    with pytest.raises(EngineNotInstalledError, match="no-such-mosquitto"):
        MosquittoBroker(executable=missing).start()


def test_found_on_path_and_in_fallback_locations(monkeypatch: pytest.MonkeyPatch) -> None:
    real = mosquitto_module.find_mosquitto()
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(mosquitto_module, "FALLBACK_LOCATIONS", (real,))
    with MosquittoBroker() as broker:
        assert roundtrip(broker.url) == b"hello"


def test_start_error_quotes_the_mosquitto_log() -> None:
    broker = MosquittoBroker(extra_config="no_such_option 1")
    with pytest.raises(BrokerStartError) as info:
        broker.start(timeout=10)
    message = str(info.value)
    assert "mosquitto said" in message
    assert "no_such_option" in message
    assert not broker.running


def test_config_keeps_every_message_queued() -> None:
    with MosquittoBroker() as broker:
        assert broker._tmpdir is not None
        config = (broker._tmpdir / "mosquitto.conf").read_text()
        # not 0: Debian's 2.0.11 closes a client whose PUBLISH it refuses when the limit is 0
        assert f"max_queued_messages {mosquitto_module.UNLIMITED_QUEUE}" in config
        assert f"listener {broker.port} 127.0.0.1" in config
        assert "allow_anonymous true" in config


def test_stop_ends_the_process_and_removes_the_temp_dir() -> None:
    broker = MosquittoBroker().start()
    pid, tmpdir = broker.pid, broker._tmpdir
    assert pid is not None
    assert tmpdir is not None
    assert tmpdir.exists()
    broker.stop()
    assert broker.pid is None
    assert not tmpdir.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_password_file_is_mosquitto_format() -> None:
    line = mosquitto_module.password_line("alice", "wonder")
    user, rest = line.strip().split(":", 1)
    assert user == "alice"
    assert rest.startswith("$7$101$")
    assert "wonder" not in line
