"""Hostile clients, the same bytes to the embedded broker and to mosquitto, each broker in a
process of its own (so its memory can be read):

- how long a connection that never sends CONNECT stays open, silent or trickling a byte a second;
- the broker's memory while a first packet (not CONNECT) declares 200 MB and sends 100 MB of it;
- how long 2,000 clients connecting at once wait until every one has its CONNACK.

    python benchmarks/hostile.py                 # about 2 minutes (mosquitto's 90 s wait)
    python benchmarks/hostile.py --wait 15       # give up on the close after 15 s
    python benchmarks/hostile.py --src ../old/src --out /tmp/before.json   # another tree's broker

Writes results/hostile.json.
"""

from __future__ import annotations

import argparse
import json
import selectors
import socket
import threading
import time
from pathlib import Path

from _common import broker_process, stop_child

from mqtt_surge import BrokerURL
from mqtt_surge import mqtt as p

RESULTS = Path(__file__).parent / "results"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def open_until_closed(url: BrokerURL, data: bytes, interval: float, wait: float) -> float | None:
    """Send ``data`` a byte per ``interval`` (all at once if empty); seconds until the broker
    closed the connection, or None if it was still open after ``wait``."""
    sock = socket.create_connection((url.host, url.port))
    started = time.monotonic()
    i = 0
    try:
        while time.monotonic() - started < wait:
            if i < len(data):
                sock.sendall(data[i : i + 1])
                i += 1
            sock.settimeout(interval)
            try:
                if not sock.recv(64):
                    return time.monotonic() - started
            except TimeoutError:
                continue
            except OSError:
                return time.monotonic() - started
        return None
    finally:
        sock.close()


def big_first_packet(url: BrokerURL, pid: int) -> dict[str, float]:
    """A PUBLISH as the first packet, declaring 200 MB, then up to 100 MB of its body."""
    sock = socket.create_connection((url.host, url.port))
    before = peak = rss_mb(pid)
    sent = 0
    chunk = b"\x00" * (1024 * 1024)
    try:
        sock.sendall(bytes((p.PUBLISH << 4,)) + p.varint(200_000_000))
        while sent < 100 * len(chunk):
            sock.sendall(chunk)
            sent += len(chunk)
            peak = max(peak, rss_mb(pid))
    except OSError:
        pass
    finally:
        sock.close()
    return {"rss_before_mb": before, "rss_growth_mb": peak - before, "accepted_mb": sent / 2**20}


def connect_storm(url: BrokerURL, count: int = 2000) -> float:
    """Seconds until ``count`` clients that connect at once all have their CONNACK."""
    selector = selectors.DefaultSelector()
    connect = p.encode_connect("", level=4)
    socks = []
    started = time.monotonic()
    for _ in range(count):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex((url.host, url.port))
        socks.append(sock)
        selector.register(sock, selectors.EVENT_WRITE)
    answered = 0
    while answered < count and time.monotonic() - started < 120:
        for key, events in selector.select(timeout=1.0):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            if events & selectors.EVENT_WRITE:
                sock.send(connect)
                selector.modify(sock, selectors.EVENT_READ)
            elif sock.recv(4)[:2] == b"\x20\x02":
                answered += 1
                selector.unregister(sock)
    took = time.monotonic() - started
    selector.close()
    for sock in socks:
        sock.close()
    return took if answered == count else float("inf")


def run(engine: str, wait: float, src: str | None) -> dict[str, object]:
    proc, url, pid = broker_process(engine, src)
    try:
        return measure(engine, url, pid, wait)
    finally:
        stop_child(proc)


def measure(engine: str, url: BrokerURL, pid: int, wait: float) -> dict[str, object]:
    connect = p.encode_connect("trickle", level=4)
    partial = connect[:1] + p.varint(300) + connect[2:] + b"\x00" * 200
    closes: dict[str, float | None] = {}
    threads = [
        threading.Thread(
            target=lambda k=k, d=d: closes.__setitem__(k, open_until_closed(url, d, 1.0, wait))
        )
        for k, d in (("silent", b""), ("trickling", partial))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "engine": engine,
        "closed_silent_s": closes["silent"],
        "closed_trickling_s": closes["trickling"],
        **big_first_packet(url, pid),
        "connack_2000_s": connect_storm(url),
    }


def _seconds(value: object) -> str:
    return "still open" if value is None else f"{value:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wait", type=float, default=120.0, help="longest wait for a close (s)")
    parser.add_argument("--out", default=str(RESULTS / "hostile.json"))
    parser.add_argument(
        "--src", help="run the brokers from this source tree (an older commit's src/, to compare)"
    )
    args = parser.parse_args()
    rows = [run(engine, args.wait, args.src) for engine in ("embedded", "mosquitto")]
    print(
        f"{'engine':10} {'no CONNECT':>12} {'trickling':>10} {'RSS +MB':>8} {'read MB':>8} "
        f"{'2,000 CONNACKs':>15}"
    )
    for row in rows:
        silent, trickling = (_seconds(row[k]) for k in ("closed_silent_s", "closed_trickling_s"))
        print(
            f"{row['engine']:10} {silent:>12} {trickling:>10} {row['rss_growth_mb']:>8.1f} "
            f"{row['accepted_mb']:>8.1f} {row['connack_2000_s']:>13.2f} s"
        )
    Path(args.out).write_text(
        json.dumps({"when": time.strftime("%Y-%m-%d %H:%M"), "rows": rows}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
