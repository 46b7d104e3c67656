"""Broker engines: start-to-ready times, and end-to-end QoS 0 throughput of the embedded broker
(mqtt-surge's own), amqtt (our configuration and amqtt's defaults; the embedded engine until
2026-12) and mosquitto, measured in one run.

    python benchmarks/brokers.py            # full run (a few minutes)
    python benchmarks/brokers.py --quick    # fewer messages and starts, for CI
    python benchmarks/brokers.py --listeners  # only the TLS / WebSocket section
    python benchmarks/brokers.py --inspection  # only broker.packets on and off

Listeners (issue 23): the start of a factory broker with ``tls=True`` (its certificate authority
made, then started to a CONNACK over TLS) beside a plain one, in a warm process; and end-to-end
QoS 0 rates over MQTT/TCP, TLS, WebSocket and secure WebSocket of the same engine, publisher and
subscriber both on the listener measured, the listeners alternating within each repetition.

Readiness means an MQTT CONNECT got its CONNACK. "First start" is a fresh process, imports
included (interpreter start-up excluded); "later starts" are new broker objects in a warm process.
Throughput: the broker runs in a child process, a raw-socket publisher sends pre-encoded 64-byte
QoS 0 messages and a paho subscriber counts them; the configurations alternate within each
repetition, so machine noise hits both alike.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import ssl
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from _common import (
    PahoCounter,
    RawCounter,
    RawPublisher,
    WsRawPublisher,
    broker_in_child,
    median_range,
    stop_child,
)

from mqtt_surge import BrokerURL, parse_broker
from mqtt_surge.runtime import children as _children

RESULTS = Path(__file__).parent / "results"

FIRST_START = """
import time
t0 = time.perf_counter()
from mqtt_surge import broker_from_spec
b = broker_from_spec({engine!r}).start()
t1 = time.perf_counter()
b.stop()
print((t1 - t0) * 1000)
"""

CHILD_BROKER = """
import sys
from mqtt_surge import AmqttBroker, EmbeddedBroker, MosquittoBroker
config = {config!r}
plugins = None
if config == "amqtt_defaults":
    from amqtt.contexts import default_broker_plugins
    plugins = default_broker_plugins()
if config == "mosquitto":
    broker = MosquittoBroker()
elif config == "embedded":
    broker = EmbeddedBroker()
else:
    broker = AmqttBroker(plugins=plugins)
with broker as b:
    print(b.url.full, flush=True)
    sys.stdin.read()
"""
CHILD_LISTENER = """
import json, sys
from mqtt_surge import broker_from_spec
with broker_from_spec({engine!r}, **{options!r}) as b:
    ca = str(b.tls.ca_file) if b.tls else None
    print(json.dumps({{"url": b.url.full, "ca": ca}}), flush=True)
    sys.stdin.read()
"""
INSPECTION = {"packets on": {"inspect": True}, "packets off": {"inspect": False}}
LISTENERS = {
    "tcp": {},
    "tls": {"tls": True},
    "ws": {"websockets": True},
    "wss": {"websockets": True, "tls": True},
}
CONFIGS = {
    "embedded": "embedded (mqtt-surge's own broker)",
    "ours": "amqtt, mqtt-surge's configuration (anonymous auth only)",
    "amqtt_defaults": "amqtt, amqtt's defaults (event/packet loggers, $SYS)",
    "mosquitto": "mosquitto",
}


def first_start_ms(engine: str, runs: int) -> list[float]:
    code = FIRST_START.format(engine=engine)
    return [
        float(
            subprocess.run(
                [sys.executable, "-W", "ignore", "-c", code],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()[-1]
        )
        for _ in range(runs)
    ]


def later_starts_ms(engine: str, runs: int) -> list[float]:
    from mqtt_surge import broker_from_spec

    broker_from_spec(engine).start().stop()  # warm-up: imports and first-use costs
    times = []
    for _ in range(runs):
        broker = broker_from_spec(engine)
        t0 = time.perf_counter()
        broker.start()
        times.append((time.perf_counter() - t0) * 1000)
        broker.stop()
    return times


def factory_starts_ms(engine: str, options: dict[str, object], runs: int) -> list[float]:
    """A factory broker's start as a test sees it: the object made (a CA, with tls=True), then
    started to its first CONNACK."""
    from mqtt_surge import broker_from_spec

    broker_from_spec(engine, **options).start().stop()  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        broker = broker_from_spec(engine, **options).start()
        times.append((time.perf_counter() - t0) * 1000)
        broker.stop()
    return times


@contextlib.contextmanager
def child_broker(
    engine: str, options: dict[str, object]
) -> Iterator[tuple[BrokerURL, ssl.SSLContext | None]]:
    """A broker of ``engine`` with ``options`` in a child process: its URL, and a context that
    trusts its CA when it has TLS."""
    proc = _children.popen(
        [sys.executable, "-c", CHILD_LISTENER.format(engine=engine, options=options)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        tls = ssl.create_default_context(cafile=info["ca"]) if info["ca"] else None
        yield parse_broker(info["url"]), tls
    finally:
        stop_child(proc)


def listener_rate(engine: str, listener: str, n: int) -> tuple[float, int]:
    """End-to-end QoS 0 rate with publisher and subscriber on one listener of ``engine``."""
    with child_broker(engine, LISTENERS[listener]) as (url, tls):
        topic = f"bench/{uuid.uuid4().hex}"
        counter = PahoCounter(url, topic, tls=tls)
        publisher = WsRawPublisher(url, tls) if url.websocket else RawPublisher(url, tls)
        try:
            counter.expect(n)
            publisher.send(topic, n)
            got = counter.wait()
        finally:
            publisher.close()
            counter.close()
    return sustained(got, counter.first, counter.last), n - got


def sustained(got: int, first: float, last: float) -> float:
    # from the first message received to the last: the broker's sustained rate
    return (got - 1) / (last - first) if got > 1 else 0.0


def listeners_section(report: dict[str, object], n: int, repetitions: int, runs: int) -> None:
    print("\n## Listeners: TLS and WebSocket beside MQTT over TCP\n")
    print("| engine | plain start (ms) | tls=True start (ms) | median of", runs, "|")
    print("|---|---|---|---|")
    starts = {}
    for engine in ("embedded", "mosquitto"):
        plain = factory_starts_ms(engine, {}, runs)
        secure = factory_starts_ms(engine, {"tls": True}, runs)
        starts[engine] = {"plain_ms": plain, "tls_ms": secure}
        print(f"| {engine} | {median_range(plain)} | {median_range(secure)} | |")
    rates: dict[str, dict[str, list[float]]] = {}
    lost: dict[str, int] = {}
    for _ in range(repetitions):
        for engine in ("embedded", "mosquitto"):
            for listener in LISTENERS:
                rate, missing = listener_rate(engine, listener, n)
                rates.setdefault(engine, {}).setdefault(listener, []).append(rate)
                lost[f"{engine} {listener}"] = lost.get(f"{engine} {listener}", 0) + missing
    print(f"\nEnd-to-end QoS 0, {n:,} x 64 B per run, {repetitions} alternating repetitions:\n")
    print("| engine | listener | msg/s, median (min-max) | / tcp, per repetition | lost |")
    print("|---|---|---|---|---|")
    for engine, by_listener in rates.items():
        for listener, values in by_listener.items():
            ratios = [a / b for a, b in zip(values, by_listener["tcp"], strict=True)]
            print(
                f"| {engine} | {listener} | {median_range(values)} | "
                f"{', '.join(f'{r:.2f}' for r in ratios)} | {lost[f'{engine} {listener}']} |"
            )
    report["listeners"] = {"starts": starts, "rates": rates, "lost": lost}


def raw_rate(options: dict[str, object], n: int) -> tuple[float, int]:
    """The embedded broker's rate between a raw publisher and a raw counting subscriber."""
    with child_broker("embedded", options) as (url, _tls):
        topic = f"bench/{uuid.uuid4().hex}"
        counter, publisher = RawCounter(url, topic), RawPublisher(url)
        try:
            publisher.send(topic, n)
            got = counter.count_until(n)
        finally:
            publisher.close()
            counter.close()
    return sustained(got, counter.first, counter.last), n - got


def inspection_section(report: dict[str, object], n: int, repetitions: int) -> None:
    """The embedded broker's rate with ``broker.packets`` recording (the default) and without,
    alternating within each repetition."""
    rates: dict[str, list[float]] = {name: [] for name in INSPECTION}
    lost = dict.fromkeys(INSPECTION, 0)
    for _ in range(repetitions):
        for name, options in INSPECTION.items():
            rate, missing = raw_rate(options, n)
            rates[name].append(rate)
            lost[name] += missing
    ratios = [a / b for a, b in zip(rates["packets on"], rates["packets off"], strict=True)]
    print(
        f"\n## broker.packets: QoS 0, {n:,} x 64 B, raw publisher and raw subscriber, "
        f"{repetitions} alternating repetitions\n"
    )
    print("| embedded broker | msg/s, median (min-max) | lost |")
    print("|---|---|---|")
    for name, values in rates.items():
        print(f"| {name} | {median_range(values)} | {lost[name]} |")
    print(f"\non/off per repetition: {', '.join(f'{r:.2f}' for r in ratios)}")
    report["inspection"] = {"rates": rates, "lost": lost, "on_to_off": ratios}


def throughput(config: str, n: int) -> tuple[float, int]:
    proc, url = broker_in_child(CHILD_BROKER.format(config=config))
    try:
        topic = f"bench/{uuid.uuid4().hex}"
        counter = PahoCounter(url, topic)
        publisher = RawPublisher(url)
        try:
            counter.expect(n)
            publisher.send(topic, n)
            got = counter.wait()
            # from the first message received to the last: the broker's sustained rate
            rate = (got - 1) / (counter.last - counter.first) if got > 1 else 0.0
        finally:
            publisher.close()
            counter.close()
    finally:
        stop_child(proc)
    return rate, n - got


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run for CI")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--listeners", action="store_true", help="only the listeners section")
    parser.add_argument("--inspection", action="store_true", help="only broker.packets on/off")
    args = parser.parse_args()
    n_msgs = 5_000 if args.quick else 20_000
    first_runs, later_runs = (3, 20) if args.quick else (5, 20)

    report: dict[str, object] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {__import__('os').cpu_count()} cores",
        "messages": n_msgs,
    }
    print(f"# broker benchmark ({report['date']}, {report['machine']})\n")
    if args.listeners:
        listeners_section(report, n_msgs, args.repetitions, later_runs)
        return write(
            report, "brokers-listeners-quick.json" if args.quick else "brokers-listeners.json"
        )
    if args.inspection:
        inspection_section(report, n_msgs, args.repetitions)
        return write(
            report, "brokers-inspection-quick.json" if args.quick else "brokers-inspection.json"
        )
    print("| engine | first start, fresh process (ms) | later starts, median of 20 (ms) |")
    print("|---|---|---|")
    starts = {}
    for engine in ("embedded", "amqtt", "mosquitto"):
        first = first_start_ms(engine, first_runs)
        later = later_starts_ms(engine, later_runs)
        starts[engine] = {"first_ms": first, "later_ms": later}
        print(f"| {engine} | {median_range(first)} | {median_range(later)} |")
    report["starts"] = starts

    rates: dict[str, list[float]] = {name: [] for name in CONFIGS}
    lost: dict[str, int] = dict.fromkeys(CONFIGS, 0)
    for _ in range(args.repetitions):
        for name in CONFIGS:
            rate, missing = throughput(name, n_msgs)
            rates[name].append(rate)
            lost[name] += missing
    ratios = [a / b for a, b in zip(rates["ours"], rates["amqtt_defaults"], strict=True)]
    embedded = [a / b for a, b in zip(rates["embedded"], rates["ours"], strict=True)]
    report["throughput"] = {
        "rates": rates,
        "lost": lost,
        "ratios": ratios,
        "embedded_to_amqtt": embedded,
    }
    print(f"\nEnd-to-end QoS 0, {n_msgs:,} x 64 B, {args.repetitions} alternating repetitions:\n")
    print("| broker | msg/s, median (min-max) | lost |")
    print("|---|---|---|")
    for name, title in CONFIGS.items():
        print(f"| {title} | {median_range(rates[name])} | {lost[name]} |")
    print(
        "\nratio amqtt ours/amqtt defaults per repetition: "
        f"{', '.join(f'{r:.2f}' for r in ratios)} "
        f"(median {statistics.median(ratios):.2f}x)"
    )
    print(
        f"ratio embedded/amqtt (ours) per repetition: {', '.join(f'{r:.2f}' for r in embedded)} "
        f"(median {statistics.median(embedded):.2f}x)"
    )
    listeners_section(report, n_msgs, args.repetitions, later_runs)
    inspection_section(report, n_msgs, args.repetitions)
    return write(report, "brokers-quick.json" if args.quick else "brokers.json")


def write(report: dict[str, object], name: str) -> int:
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / name
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten: {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
