"""Broker engines: start-to-ready times, and end-to-end QoS 0 throughput of the embedded broker
(mqtt-surge's own), amqtt (our configuration and amqtt's defaults; the embedded engine until
2026-12) and mosquitto, measured in one run.

    python benchmarks/brokers.py            # full run (about a minute)
    python benchmarks/brokers.py --quick    # fewer messages and starts, for CI

Readiness means an MQTT CONNECT got its CONNACK. "First start" is a fresh process, imports
included (interpreter start-up excluded); "later starts" are new broker objects in a warm process.
Throughput: the broker runs in a child process, a raw-socket publisher sends pre-encoded 64-byte
QoS 0 messages and a paho subscriber counts them; the configurations alternate within each
repetition, so machine noise hits both alike.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from _common import PahoCounter, RawPublisher, broker_in_child, median_range, stop_child

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
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("brokers-quick.json" if args.quick else "brokers.json")
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten: {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
