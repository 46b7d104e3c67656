"""What one client's choices cost the others, the embedded broker beside mosquitto in one run:

- routing: the QoS 1 PUBLISH rate to a topic nobody matches, with 0, 1,000, 10,000 and 100,000
  subscriptions that do not match, then with 10,000 offline persistent sessions besides;
- a SUBSCRIBE of ``#`` over 100,000 retained messages: the time until all arrived, and the
  longest a bystander's PINGREQ waited meanwhile;
- fan-in: four raw publishers, 20,000 QoS 0 messages each, into one paho subscriber.

    python benchmarks/broker_routing.py                       # about 3 minutes
    python benchmarks/broker_routing.py --old-src ../old/src  # also the embedded broker of
                                                              # another tree, in the same run

Each broker runs in a process of its own. Writes results/broker_routing.json.
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

from _common import PahoCounter, broker_process, stop_child

from mqtt_surge import BrokerURL
from mqtt_surge import mqtt as p

RESULTS = Path(__file__).parent / "results"


class Client:
    """A raw MQTT 3.1.1 client: bytes out, whole packets in."""

    def __init__(self, url: BrokerURL, client_id: str, clean: bool = True) -> None:
        self.sock = socket.create_connection((url.host, url.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = bytearray()
        self.sock.sendall(p.encode_connect(client_id, clean=clean, keepalive=0))
        assert self.next()[0] >> 4 == p.CONNACK

    def next(self) -> tuple[int, bytes]:
        while (framed := p.split_packet(self.buffer)) is None:
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("closed")
            self.buffer += data
        first, start, end = framed
        body = bytes(self.buffer[start:end])
        del self.buffer[:end]
        return first, body

    def wait_for(self, kind: int, count: int = 1) -> None:
        while count:
            count -= self.next()[0] >> 4 == kind

    def close(self) -> None:
        self.sock.close()


def publish_rate(client: Client, count: int = 5000, budget: float = 3.0) -> float:
    """QoS 1 PUBLISH packets per second to a topic nobody matches, 500 at a time, until
    ``count`` were acknowledged or ``budget`` seconds passed (a slow broker gets a short run)."""
    batch = b"".join(
        p.encode_publish("nobody/here", b"x" * 16, 1, False, m + 1) for m in range(500)
    )
    started = time.perf_counter()
    acked = 0
    while acked < count and time.perf_counter() - started < budget:
        client.sock.sendall(batch)
        client.wait_for(p.PUBACK, 500)
        acked += 500
    return acked / (time.perf_counter() - started)


def subscribe_many(url: BrokerURL, total: int, start: int) -> Client:
    client = Client(url, f"many-{start}")
    for first in range(start, start + total, 1000):
        filters = [(f"other/{i}/+/x", 0) for i in range(first, min(first + 1000, start + total))]
        client.sock.sendall(p.encode_subscribe(1, filters, False))  # type: ignore[arg-type]
        client.wait_for(p.SUBACK)
    return client


def offline_sessions(url: BrokerURL, count: int) -> None:
    for first in range(0, count, 500):
        socks = []
        for i in range(first, min(first + 500, count)):
            sock = socket.create_connection((url.host, url.port))
            sock.sendall(
                p.encode_connect(f"away-{i}", clean=False)
                + p.encode_subscribe(1, [(f"devices/{i}/cmd", 1)], False)
                + p.DISCONNECT_PACKET
            )
            socks.append(sock)
        for sock in socks:
            while sock.recv(4096):
                pass
            sock.close()


def routing(url: BrokerURL) -> dict[str, float]:
    publisher = Client(url, "router")
    publish_rate(publisher, 1000)  # warm-up
    rates = {"0": publish_rate(publisher)}
    held, made = [], 0
    for target in (1_000, 10_000, 100_000):
        held.append(subscribe_many(url, target - made, made))
        made = target
        rates[f"{target:,}"] = publish_rate(publisher)
    offline_sessions(url, 10_000)
    rates["100,000 + 10,000 offline sessions"] = publish_rate(publisher)
    for client in [*held, publisher]:
        client.close()
    return rates


def subscribe_all_retained(url: BrokerURL, count: int = 100_000) -> dict[str, float]:
    publisher = Client(url, "retainer")
    for first in range(0, count, 10_000):
        publisher.sock.sendall(
            b"".join(
                p.encode_publish(f"kept/{i // 1000}/{i}", b"v", 0, True)
                for i in range(first, first + 10_000)
            )
        )
    publisher.sock.sendall(p.PINGREQ_PACKET)
    publisher.wait_for(p.PINGRESP)
    bystander = Client(url, "bystander")
    longest = 0.0
    done = threading.Event()

    def ping() -> None:
        nonlocal longest
        while not done.is_set():
            started = time.perf_counter()
            bystander.sock.sendall(p.PINGREQ_PACKET)
            bystander.wait_for(p.PINGRESP)
            longest = max(longest, time.perf_counter() - started)
            time.sleep(0.01)  # pace: a bystander pings every 10 ms

    pinger = threading.Thread(target=ping)
    subscriber = Client(url, "everything")
    pinger.start()
    started = time.perf_counter()
    subscriber.sock.sendall(p.encode_subscribe(1, [("#", 0)], False))
    subscriber.wait_for(p.SUBACK)
    subscriber.wait_for(p.PUBLISH, count)
    took = time.perf_counter() - started
    done.set()
    pinger.join()
    for client in (publisher, bystander, subscriber):
        client.close()
    return {"seconds": took, "longest_ping_s": longest}


def fan_in(url: BrokerURL, publishers: int = 4, each: int = 20_000) -> float:
    counter = PahoCounter(url, "fan/#")
    counter.expect(publishers * each)
    clients = [Client(url, f"fan-{k}") for k in range(publishers)]
    packets = [
        b"".join(p.encode_publish(f"fan/{k}", b"x" * 64, 0, False) for _ in range(each))
        for k in range(publishers)
    ]
    senders = [
        threading.Thread(target=c.sock.sendall, args=(data,))
        for c, data in zip(clients, packets, strict=True)
    ]
    for t in senders:
        t.start()
    for t in senders:
        t.join()
    got = counter.wait()
    rate = (got - 1) / (counter.last - counter.first) if got > 1 else 0.0
    counter.close()
    for c in clients:
        c.close()
    return rate


def run(engine: str, src: str | None) -> dict[str, object]:
    """Each measurement on a broker process of its own: what one leaves behind (10,000 offline
    sessions) must not weigh on the next."""
    return {
        "fan_in": _on_fresh(engine, src, fan_in),
        "routing": _on_fresh(engine, src, routing),
        "retained": _on_fresh(engine, src, subscribe_all_retained),
    }


def _on_fresh(engine: str, src: str | None, measure: Any) -> Any:
    proc, url, _pid = broker_process(engine, src)
    try:
        return measure(url)
    finally:
        stop_child(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-src", help="also run the embedded broker of this source tree")
    args = parser.parse_args()
    brokers = [("embedded", None), ("mosquitto", None)]
    if args.old_src:
        brokers.insert(1, ("embedded", args.old_src))
    results = {}
    for engine, src in brokers:
        name = f"{engine} ({src})" if src else engine
        print(f"running {name} ...", flush=True)
        results[name] = run(engine, src)
    names = list(results)
    print(
        f"\n| QoS 1 PUBLISH rate, msg/s, with N non-matching subscriptions | {' | '.join(names)} |"
    )
    print("|---|" + "---|" * len(names))
    for key in results[names[0]]["routing"]:  # type: ignore[index]
        row = " | ".join(f"{results[n]['routing'][key]:,.0f}" for n in names)  # type: ignore[index]
        print(f"| {key} | {row} |")
    cells = []
    for n in names:
        retained = results[n]["retained"]
        assert isinstance(retained, dict)
        cells.append(
            f"{retained['seconds']:.2f} s, ping {retained['longest_ping_s'] * 1000:.0f} ms"
        )
    row = " | ".join(cells)
    print(f"| SUBSCRIBE # over 100,000 retained | {row} |")
    row = " | ".join(f"{results[n]['fan_in']:,.0f}" for n in names)
    print(f"| fan-in, 4 publishers -> 1 subscriber, QoS 0 msg/s | {row} |")
    RESULTS.mkdir(exist_ok=True)
    out = {"when": time.strftime("%Y-%m-%d %H:%M"), "results": results}
    (RESULTS / "broker_routing.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
