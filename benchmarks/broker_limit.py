"""The brokers at their own limit (issue 26, part 3): clients faster than the broker, so that the
figure is the broker's, not a client library's.

    python benchmarks/broker_limit.py            # every scenario, every engine, 3 repetitions
    python benchmarks/broker_limit.py --quick    # fewer messages, one repetition

Each broker runs in a process of its own. Publishers write pre-framed PUBLISH packets to raw
sockets; receivers count bytes (every message of a scenario has the same size, so the bytes say
how many arrived, with no per-packet Python work). Scenarios: fan-in (8 publishers -> 1
receiver), fan-out (1 publisher -> 8 receivers), many topics (1,000 topics -> 1 receiver on
'#'), QoS 1 fan-in (the publishers read their PUBACKs), and retained (1,000 retained messages
sent to one new subscription). "embedded" is the broker as the fixtures start it (the packet log
on), "embedded-nolog" with ``inspect=False``, as ``mqtt-surge broker`` and the load suite run
it. The engines alternate within each repetition. "CPU per message"
is the broker process's user + system time over the messages it delivered (from /proc; 10 ms
resolution, so only the larger runs say much).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from _common import RawPublisher, median_range, stop_child

from mqtt_surge import BrokerURL, parse_broker
from mqtt_surge.mqtt.packets import encode_publish, encode_subscribe
from mqtt_surge.runtime import children as _children
from mqtt_surge.runtime.wire import open_session

RESULTS = Path(__file__).parent / "results"
# the engines, and the embedded broker as the load suite's broker process runs it (the packet log
# off: no test in that process reads it)
SPECS = {
    "embedded": ("embedded", {}),
    "embedded-nolog": ("embedded", {"inspect": False}),
    "mosquitto": ("mosquitto", {}),
    "amqtt": ("amqtt", {}),
}
ENGINES = tuple(SPECS)
PAYLOAD = 64
CHILD = """
import json, os, sys
from mqtt_surge import broker_from_spec
with broker_from_spec({spec!r}, **{options!r}) as b:
    pid = getattr(b, "pid", None) or os.getpid()  # mosquitto's own process, else this one
    print(json.dumps({{"url": b.url.full, "pid": pid}}), flush=True)
    sys.stdin.read()
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ByteReceiver:
    """A subscriber that counts bytes: ``expected`` messages of ``size`` bytes each have
    arrived when ``expected * size`` bytes have."""

    def __init__(self, url: BrokerURL, topic_filter: str, *, subscribe_now: bool = True) -> None:
        self.sock = open_session(url, timeout=10, client_id=f"limit-rx-{uuid.uuid4().hex[:8]}")
        self.filter = topic_filter
        self.extra = 0  # bytes counted that are not messages (a SUBACK that comes in the window)
        self.received = 0
        self.first = self.last = 0.0
        if subscribe_now:
            self.sock.sendall(encode_subscribe(1, [(topic_filter, 0)], False))
            suback = self.sock.recv(5)
            assert suback[:1] == b"\x90", suback

    def subscribe_in_window(self) -> None:
        """SUBSCRIBE now: its SUBACK (5 bytes) arrives among the messages it brings."""
        self.extra = 5
        self.sock.sendall(encode_subscribe(1, [(self.filter, 0)], False))

    def messages(self, size: int) -> int:
        return max(self.received - self.extra, 0) // size

    def count(self, total_bytes: int, idle: float = 5.0) -> None:
        total_bytes += self.extra
        self.sock.settimeout(idle)
        buffer = bytearray(1 << 20)
        while self.received < total_bytes:
            try:
                n = self.sock.recv_into(buffer)
            except TimeoutError:
                return
            if not n:
                return
            now = time.perf_counter()
            if not self.received:
                self.first = now
            self.received += n
            self.last = now

    def close(self) -> None:
        self.sock.close()


def frames(topics: list[str], each: int, qos: int = 0, retain: bool = False) -> tuple[bytes, int]:
    """``each`` pre-framed PUBLISH packets per topic, round robin, and one packet's size as the
    receiver sees it (QoS 0, so no packet id)."""
    payload = b"x" * PAYLOAD
    packets = [
        encode_publish(t, payload, qos, retain, (i % 65535) + 1 if qos else 0)
        for i in range(each)
        for t in topics
    ]
    return b"".join(packets), len(encode_publish(topics[0], payload, 0, False))


def run_child(engine: str) -> tuple[subprocess.Popen[str], BrokerURL, int]:
    proc = _children.popen(
        [sys.executable, "-c", CHILD.format(spec=SPECS[engine][0], options=SPECS[engine][1])],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    return proc, parse_broker(info["url"]), int(info["pid"])


def measure(
    url: BrokerURL,
    pid: int,
    receivers: list[ByteReceiver],
    expected_each: int,
    size: int,
    send: Callable[[], None],
) -> tuple[float, float, int]:
    """Run ``send`` while every receiver counts; (deliveries per second over the receivers'
    window, CPU microseconds per delivery, deliveries missing)."""
    threads = [
        threading.Thread(target=r.count, args=(expected_each * size,), daemon=True)
        for r in receivers
    ]
    cpu0 = cpu_seconds(pid)
    for t in threads:
        t.start()
    send()
    for t in threads:
        t.join(120)
    cpu = cpu_seconds(pid) - cpu0
    got = sum(r.messages(size) for r in receivers)
    first = min(r.first for r in receivers if r.received) if got else 0.0
    last = max(r.last for r in receivers) if got else 0.0
    rate = got / (last - first) if got > len(receivers) and last > first else 0.0
    return rate, cpu * 1e6 / got if got else 0.0, expected_each * len(receivers) - got


def fan_in(url: BrokerURL, pid: int, n: int, qos: int = 0) -> tuple[float, float, int]:
    tag = uuid.uuid4().hex[:8]
    rx = ByteReceiver(url, f"in-{tag}/#")
    publishers = [RawPublisher(url) for _ in range(8)]
    data = [frames([f"in-{tag}/{k}"], n // 8, qos) for k in range(8)]
    size = data[0][1]

    def send() -> None:
        workers = [
            threading.Thread(target=p.send_frames, args=(d,), daemon=True)
            for p, (d, _) in zip(publishers, data, strict=True)
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join(120)

    try:
        return measure(url, pid, [rx], (n // 8) * 8, size, send)
    finally:
        rx.close()
        for p in publishers:
            p.close()


def fan_out(url: BrokerURL, pid: int, n: int) -> tuple[float, float, int]:
    topic = f"out-{uuid.uuid4().hex[:8]}"
    receivers = [ByteReceiver(url, topic) for _ in range(8)]
    publisher = RawPublisher(url)
    data, size = frames([topic], n // 8)
    try:
        return measure(url, pid, receivers, n // 8, size, lambda: publisher.send_frames(data))
    finally:
        publisher.close()
        for r in receivers:
            r.close()


def many_topics(url: BrokerURL, pid: int, n: int) -> tuple[float, float, int]:
    tag = uuid.uuid4().hex[:8]
    rx = ByteReceiver(url, "#")  # '#': every topic of the run (the broker is this run's alone)
    topics = [f"many-{tag}/{k:04d}" for k in range(1000)]
    publisher = RawPublisher(url)
    each = max(n // 1000, 1)
    data, size = frames(topics, each)
    try:
        return measure(
            url, pid, [rx], len(topics) * each, size, lambda: publisher.send_frames(data)
        )
    finally:
        publisher.close()
        rx.close()


def retained(url: BrokerURL, pid: int, _n: int) -> tuple[float, float, int]:
    tag = uuid.uuid4().hex[:8]
    topics = [f"kept-{tag}/{k:04d}" for k in range(1000)]
    data, _ = frames(topics, 1, qos=1, retain=True)
    publisher = open_session(url, timeout=10, client_id=f"limit-keeper-{tag}")
    publisher.sendall(data)
    acked = 0
    while acked < 4 * len(topics):  # every PUBACK (4 bytes): the broker has them all retained
        chunk = publisher.recv(65536)
        assert chunk, "the broker closed the publisher"
        acked += len(chunk)
    rx = ByteReceiver(url, f"kept-{tag}/#", subscribe_now=False)
    size = len(encode_publish(topics[0], b"x" * PAYLOAD, 0, True))
    try:
        return measure(url, pid, [rx], len(topics), size, rx.subscribe_in_window)
    finally:
        publisher.close()
        rx.close()


SCENARIOS: dict[str, Callable[[BrokerURL, int, int], tuple[float, float, int]]] = {
    "fan-in 8 -> 1, QoS 0": fan_in,
    "fan-out 1 -> 8, QoS 0": fan_out,
    "1,000 topics -> '#', QoS 0": many_topics,
    "fan-in 8 -> 1, QoS 1": lambda url, pid, n: fan_in(url, pid, n, qos=1),
    "1,000 retained -> 1 new subscription": retained,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--engines", default=",".join(ENGINES))
    args = parser.parse_args()
    n = 40_000 if args.quick else 160_000
    reps = 1 if args.quick else args.repetitions
    engines = args.engines.split(",")
    rates: dict[str, dict[str, list[float]]] = {s: {e: [] for e in engines} for s in SCENARIOS}
    cpu: dict[str, dict[str, list[float]]] = {s: {e: [] for e in engines} for s in SCENARIOS}
    missing: dict[str, dict[str, int]] = {s: dict.fromkeys(engines, 0) for s in SCENARIOS}
    for _ in range(reps):
        for engine in engines:
            proc, url, pid = run_child(engine)
            try:
                for name, scenario in SCENARIOS.items():
                    rate, per_message, lost = scenario(url, pid, n)
                    rates[name][engine].append(rate)
                    cpu[name][engine].append(per_message)
                    missing[name][engine] += lost
            finally:
                stop_child(proc)
    date = time.strftime("%Y-%m-%d %H:%M")
    machine = f"{platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} cores"
    print(
        f"# the brokers at their own limit ({date}, {machine}; "
        f"{n:,} messages, {reps} repetitions)\n"
    )
    print(
        "| scenario | "
        + " | ".join(f"{e} msg/s" for e in engines)
        + " | embedded / mosquitto, per repetition |"
    )
    print("|---" * (len(engines) + 2) + "|")
    for name in SCENARIOS:
        cells = " | ".join(median_range(rates[name][e]) for e in engines)
        ratio = ""
        if "embedded" in engines and "mosquitto" in engines:
            pairs = zip(rates[name]["embedded"], rates[name]["mosquitto"], strict=True)
            ratio = ", ".join(f"{a / b:.2f}" if b else "-" for a, b in pairs)
        print(f"| {name} | {cells} | {ratio} |")
    print(
        "\nCPU per delivered message (µs, median), and deliveries missing over all repetitions:\n"
    )
    print("| scenario | " + " | ".join(engines) + " |")
    print("|---" * (len(engines) + 1) + "|")
    for name in SCENARIOS:
        cells = " | ".join(
            f"{statistics.median(cpu[name][e]):.1f} ({missing[name][e]} missing)" for e in engines
        )
        print(f"| {name} | {cells} |")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("broker_limit-quick.json" if args.quick else "broker_limit.json")
    out.write_text(
        json.dumps(
            {
                "date": date,
                "machine": machine,
                "messages": n,
                "rates": rates,
                "cpu_us": cpu,
                "missing": missing,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
