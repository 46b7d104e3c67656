"""`mqtt-surge broker` as a user runs it: a real process, its URL on stdout, stopped by a signal."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from mqtt_surge import parse_broker

from ._support import WAIT, roundtrip


def _run_broker(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mqtt_surge", "broker", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("engine", ["embedded", "mosquitto"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_broker_prints_its_url_and_stops_on_a_signal(engine: str, sig: signal.Signals) -> None:
    proc = _run_broker("--engine", engine)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the broker is ready: that is the signal
        url = parse_broker(line.strip())
        assert url.host == "127.0.0.1"
        assert roundtrip(url, b"via-cli") == b"via-cli"
        proc.send_signal(sig)
        assert proc.wait(WAIT * 2) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_broker_with_credentials_prints_a_usable_url() -> None:
    proc = _run_broker("--username", "u", "--password", "p")
    try:
        assert proc.stdout is not None
        url = parse_broker(proc.stdout.readline().strip())
        assert (url.username, url.password) == ("u", "p")
        assert roundtrip(url) == b"hello"
        proc.terminate()
        assert proc.wait(WAIT * 2) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_broker_start_failure_is_a_clear_error_and_exit_2() -> None:
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1',0)); "
            "s.listen(); print(s.getsockname()[1], flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout is not None
        assert holder.stdin is not None
        port = holder.stdout.readline().strip()
        result = subprocess.run(
            [sys.executable, "-m", "mqtt_surge", "broker", "--port", port],
            capture_output=True,
            check=False,
            text=True,
            timeout=60,
        )
        holder.stdin.close()
    assert result.returncode == 2
    assert f"127.0.0.1:{port}" in result.stderr
    assert "in use" in result.stderr


def test_username_without_password_is_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mqtt_surge", "broker", "--username", "u"],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--username and --password go together" in result.stderr
