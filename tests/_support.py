"""Test helpers that wait on signals from a real paho client, never on sleeps."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from mqtt_surge import BrokerURL

WAIT = 10.0
# where test runs write their figures: an ignored folder, so a run leaves the tree clean; the
# committed figures in benchmarks/results are written by the benchmark commands that set it
RESULTS_DIR = Path(
    os.environ.get("MQTT_SURGE_RESULTS_DIR") or Path(__file__).parents[1] / "test-results"
)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def thread_names() -> list[str]:
    return sorted(t.name for t in threading.enumerate())


def threads_started_since(before: set[int | None]) -> list[str]:
    """Threads alive now that were not alive at ``before`` (a set of thread idents).

    Threads left over by an earlier test that end meanwhile do not count (under xdist the
    order of tests varies); a thread this test started and did not join does.
    """
    return sorted(t.name for t in threading.enumerate() if t.ident not in before)


def thread_idents() -> set[int | None]:
    return {t.ident for t in threading.enumerate()}


def roundtrip(url: BrokerURL, payload: bytes = b"hello", qos: int = 1) -> bytes:
    """Subscribe, publish one message, return it as received. Every step waits on its ack."""
    topic = f"roundtrip/{uuid.uuid4().hex}"
    connected, subscribed, got = threading.Event(), threading.Event(), threading.Event()
    received: list[bytes] = []

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"rt-{uuid.uuid4().hex[:8]}")
    if url.username is not None:
        client.username_pw_set(url.username, url.password)
    client.on_connect = lambda c, u, f, rc, p: connected.set()
    client.on_subscribe = lambda c, u, mid, rcs, p: subscribed.set()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        received.append(msg.payload)
        got.set()

    client.on_message = on_message
    client.connect(url.host, url.port)
    client.loop_start()
    try:
        assert connected.wait(WAIT), "no CONNACK"
        client.subscribe(topic, qos)
        assert subscribed.wait(WAIT), "no SUBACK"
        client.publish(topic, payload, qos).wait_for_publish(WAIT)
        assert got.wait(WAIT), "message never came back"
    finally:
        client.disconnect()
        client.loop_stop()
    return received[0]


def start_ready(script: str, *args: str) -> subprocess.Popen[str]:
    """``python -c script args...`` in a child; returns once it printed READY (its signal that
    it is subscribed)."""
    child = subprocess.Popen(
        [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    said = child.stdout.readline().strip()
    if said != "READY":
        child.kill()
        child.wait(WAIT)
        raise AssertionError(f"the child said {said!r} instead of READY")
    return child


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT, what: str = "") -> None:
    """Poll ``predicate`` until true; for state that has no signal (a subscriber's counters).

    Message arrival has a signal (Recorder); counters such as ``received`` move on the network
    thread, where adding a notification per message would cost every user.
    """
    deadline = time.monotonic() + timeout
    delay = 0.001
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout:g}s: {what or predicate}")
        time.sleep(delay)  # pace: polling a counter, backing off
        delay = min(delay * 2, 0.05)


class Gate:
    """A callback that blocks until opened: makes "the workers are busy" deterministic."""

    def __init__(self) -> None:
        self._open = threading.Event()
        self.entered = threading.Semaphore(0)
        self.passed: list[bytes] = []
        self._lock = threading.Lock()

    def __call__(self, message: Any) -> None:
        self.entered.release()
        if not self._open.wait(WAIT * 3):
            raise AssertionError("gate never opened")
        with self._lock:
            self.passed.append(message.payload)

    def wait_entered(self, n: int = 1, timeout: float = WAIT) -> None:
        for _ in range(n):
            assert self.entered.acquire(timeout=timeout), "no callback reached the gate"

    def open(self) -> None:
        self._open.set()


def merge_results(path: Path, rows: Mapping[str, Any]) -> None:
    """Add ``rows`` to the JSON object in ``path`` (by key, sorted), under a lock: xdist workers
    and partial runs add to one file."""
    if not rows:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        merged = json.loads(path.read_text()) if path.exists() else {}
        merged.update(rows)
        path.write_text(json.dumps(dict(sorted(merged.items())), indent=2) + "\n")
