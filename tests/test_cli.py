"""`mqtt-surge broker` as a user runs it: a real process, its URL on stdout, stopped by a signal."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from mqtt_surge import parse_broker
from mqtt_surge.brokers import BrokerBase
from mqtt_surge.testing import Publisher

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


@pytest.mark.parametrize("client_engine", ["paho", "gmqtt"])
def test_subscribe_prints_messages_and_stats_at_exit(
    mosquitto: BrokerBase, topic: str, client_engine: str
) -> None:
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "mqtt_surge", "subscribe", str(mosquitto.url), f"{topic}/#"),
            *("--engine", client_engine),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        assert proc.stdout is not None
        ready = proc.stderr.readline()  # printed after SUBACK
        assert ready.startswith("# subscribed to")
        assert ready.endswith(f"(engine {client_engine})\n")
        with Publisher(mosquitto.url) as pub:
            pub.publish(f"{topic}/a", b"hello", qos=1)
            pub.publish(f"{topic}/b", b"\xff", qos=1)
        assert proc.stdout.readline() == f"{topic}/a hello\n"
        assert proc.stdout.readline() == f"{topic}/b \\xff\n"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(WAIT * 2) == 0
        tail = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "# stats: received=2, processed=2" in tail


def test_subscribe_to_an_unreachable_broker_fails_clearly() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mqtt_surge", "subscribe", "127.0.0.1:1", "t", "--timeout", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "127.0.0.1:1" in result.stderr


HOSTILE = b"line one\nline two\x00\x1b[2J\x1b]0;pwned\x07 \\ end"


@pytest.mark.parametrize("raw", [False, True], ids=["escaped", "raw"])
def test_subscribe_escapes_what_a_terminal_would_act_on(
    embedded: BrokerBase, topic: str, raw: bool
) -> None:
    """A newline, NUL or terminal escape sequence in a payload is shown escaped, one message
    per line; ``--raw`` writes the bytes as they came, for piping."""
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "mqtt_surge", "subscribe", str(embedded.url), topic),
            *(["--raw"] if raw else []),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        assert proc.stderr.readline().startswith(b"# subscribed to")
        with Publisher(embedded.url) as pub:
            pub.publish(topic, HOSTILE, qos=1)
            pub.publish(topic, b"next", qos=1)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=WAIT * 2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if raw:
        assert out == f"{topic} ".encode() + HOSTILE + f"\n{topic} next\n".encode()
    else:
        lines = out.decode("ascii").splitlines()
        assert lines == [
            f"{topic} line one\\nline two\\x00\\x1b[2J\\x1b]0;pwned\\x07 \\\\ end",
            f"{topic} next",
        ]
