"""Pieces the benchmarks share: a fast raw-socket publisher, a paho counter, brokers in children."""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import paho.mqtt.client as mqtt
import wsproto
import wsproto.events as wsevents

from mqtt_surge import BrokerURL, parse_broker
from mqtt_surge.mqtt.codec import split_packet
from mqtt_surge.mqtt.packets import encode_subscribe
from mqtt_surge.runtime import children as _children
from mqtt_surge.runtime.wire import DISCONNECT, encode_connect, encode_publish, open_session


def median_range(values: Sequence[float]) -> str:
    return f"{statistics.median(values):,.1f} ({min(values):,.1f}-{max(values):,.1f})"


def discard(sock: socket.socket) -> None:
    """Read and drop what the broker sends a publisher (its PUBACKs), so that it never backs up."""
    try:
        while sock.recv(65536):
            pass
    except OSError:
        pass


class WsRawPublisher:
    """:class:`RawPublisher` over MQTT-over-WebSocket: the same pre-encoded packets, in binary
    messages of up to 64 KiB (wsproto frames them; the broker reads the stream across them)."""

    CHUNK = 65536

    def __init__(self, url: BrokerURL, tls: ssl.SSLContext | None = None) -> None:
        sock = socket.create_connection((url.host, url.port), timeout=10)
        self._sock = tls.wrap_socket(sock, server_hostname=url.host) if tls else sock
        self._ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        self._sock.sendall(
            self._ws.send(wsevents.Request(host=url.host, target=url.path, subprotocols=["mqtt"]))
        )
        self._await(wsevents.AcceptConnection)
        connect = encode_connect(f"bench-pub-{time.monotonic_ns()}")
        self._sock.sendall(self._ws.send(wsevents.BytesMessage(data=connect)))
        self._await(wsevents.BytesMessage)  # the CONNACK
        self._sock.settimeout(None)
        self._reader = threading.Thread(target=discard, args=(self._sock,), daemon=True)
        self._reader.start()

    def _await(self, kind: type) -> None:
        while True:
            self._ws.receive_data(self._sock.recv(65536) or None)
            if any(isinstance(event, kind) for event in self._ws.events()):
                return

    def send(self, topic: str, n: int, size: int = 64) -> None:
        packets = b"".join(
            encode_publish(topic, str(i).encode().ljust(size, b".")) for i in range(n)
        )
        for start in range(0, len(packets), self.CHUNK):
            chunk = packets[start : start + self.CHUNK]
            self._sock.sendall(self._ws.send(wsevents.BytesMessage(data=chunk)))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()


class RawPublisher:
    """Pre-encoded PUBLISH packets written to a plain socket: not the bottleneck (>100k msg/s).

    QoS 1 packets carry packet ids 1..65535 in turn; a thread reads (and discards) the broker's
    PUBACKs so that they never back up.
    """

    def __init__(self, url: BrokerURL, tls: ssl.SSLContext | None = None) -> None:
        self._sock = open_session(
            url, timeout=10, client_id=f"bench-pub-{time.monotonic_ns()}", tls_context=tls
        )
        self._reader = threading.Thread(target=discard, args=(self._sock,), daemon=True)
        self._reader.start()

    def send_frames(self, data: bytes) -> None:
        """Write packets framed beforehand (so that framing is not in the measured window)."""
        self._sock.sendall(data)

    def send(self, topic: str, n: int, size: int = 64, qos: int = 0) -> None:
        packets = b"".join(
            encode_publish(topic, str(i).encode().ljust(size, b"."), qos=qos, mid=(i % 65535) + 1)
            for i in range(n)
        )
        self._sock.sendall(packets)

    def close(self) -> None:
        try:
            self._sock.sendall(DISCONNECT)
        finally:
            self._sock.close()
            self._reader.join(5)  # it ends with the socket; leaves no thread to whoever counts


class RawCounter:
    """A raw-socket subscriber that only frames and counts PUBLISH packets: much faster than
    paho, so a broker-side cost shows in the rate instead of hiding behind the client's."""

    def __init__(self, url: BrokerURL, topic: str) -> None:
        self._sock = open_session(url, timeout=10, client_id=f"bench-sub-{time.monotonic_ns()}")
        self._sock.sendall(encode_subscribe(1, [(topic, 0)], False))
        self._buffer = bytearray()
        while not self._buffer:  # the SUBACK
            self._buffer += self._sock.recv(65536)
        self._buffer.clear()
        self.count = 0
        self.first = self.last = 0.0

    def count_until(self, n: int, idle_timeout: float = 5.0) -> int:
        self._sock.settimeout(idle_timeout)
        buffer = self._buffer
        while self.count < n:
            try:
                data = self._sock.recv(1 << 20)
            except TimeoutError:
                break
            if not data:
                break
            buffer += data
            while (framed := split_packet(buffer)) is not None:
                first, _, end = framed
                del buffer[:end]
                if first >> 4 == 3:  # PUBLISH
                    now = time.perf_counter()
                    self.count += 1
                    if self.count == 1:
                        self.first = now
                    self.last = now
        return self.count

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()


class PahoCounter:
    """A raw paho subscriber with a no-op on_message that only counts; signals at ``expected``."""

    def __init__(
        self, url: BrokerURL, topic: str, qos: int = 0, tls: ssl.SSLContext | None = None
    ) -> None:
        self.count = 0
        self.first = self.last = 0.0
        self.expected = sys.maxsize  # set by expect() before anything is published
        self.done = threading.Event()
        subscribed = threading.Event()
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, transport="websockets" if url.websocket else "tcp"
        )
        if url.websocket:
            self._client.ws_set_options(path=url.path)
        if tls is not None:
            self._client.tls_set_context(tls)
        self._client.on_connect = lambda c, *a: c.subscribe(topic, qos)
        self._client.on_subscribe = lambda *a: subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect(url.host, url.port)
        self._client.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError("benchmark subscriber got no SUBACK")

    def _on_message(self, _c: object, _u: object, _m: object) -> None:
        self.count += 1
        now = time.perf_counter()
        if self.count == 1:
            self.first = now
        self.last = now
        if self.count >= self.expected:
            self.done.set()

    def expect(self, expected: int) -> None:
        """Call before publishing: ``done`` is set once this many messages arrived."""
        self.expected = expected
        if self.count >= expected:
            self.done.set()

    def wait(self, idle_timeout: float = 5.0) -> int:
        """Wait until the expected count arrived, or nothing arrived for ``idle_timeout``."""
        seen = -1
        while not self.done.wait(idle_timeout):
            if self.count == seen:
                break
            seen = self.count
        return self.count

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def broker_in_child(code: str) -> tuple[subprocess.Popen[str], BrokerURL]:
    """Run ``code`` (which must print the broker URL and then wait on stdin) in a child process."""
    proc = _children.popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line:
        proc.kill()
        raise RuntimeError(f"broker child printed no URL (exit {proc.wait()})")
    return proc, parse_broker(line)


def stop_child(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(30)


def run_suite(tests: str) -> None:
    """Run a test folder whose figures are committed (reliability, conformance), writing them
    to benchmarks/results instead of the ignored test-results/ a plain test run uses."""
    root = Path(__file__).parents[1]
    env = dict(os.environ, MQTT_SURGE_RESULTS_DIR=str(root / "benchmarks" / "results"))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", tests],
        cwd=root,
        env=env,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"{tests} failed (exit {done.returncode}): figures not trusted")


_BROKER_PROCESS = """
import os, sys
from mqtt_surge import EmbeddedBroker, MosquittoBroker
broker = MosquittoBroker() if {engine!r} == "mosquitto" else EmbeddedBroker()
with broker as b:
    pid = b.pid if {engine!r} == "mosquitto" else os.getpid()
    print(f"{{b.url.full}} {{pid}}", flush=True)
    sys.stdin.read()
"""


def broker_process(
    engine: str, src: str | None = None
) -> tuple[subprocess.Popen[str], BrokerURL, int]:
    """A local broker ("embedded" or "mosquitto") in a process of its own, from another source
    tree if ``src`` is given: (the child, its URL, the broker's pid). :func:`stop_child` ends it."""
    env = dict(os.environ, PYTHONPATH=src) if src else None
    proc = _children.popen(
        [sys.executable, "-c", _BROKER_PROCESS.format(engine=engine)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    url, pid = proc.stdout.readline().split()
    return proc, parse_broker(url), int(pid)
