"""mqtt-surge's subscriber against raw paho (and the original design), side by side in one run.

    python benchmarks/subscriber.py                 # 100,000 x 64 B QoS 0, 3 repetitions
    python benchmarks/subscriber.py --burst         # also: 1,000,000 into max_queue_size=1000

One mosquitto (MosquittoBroker), a raw-socket publisher of pre-encoded packets (not the
bottleneck), each subscriber in a process of its own, implementations alternating within each
repetition. Rates are delivered-to-callback messages per second from the first to the last;
ratios compare with raw paho measured in the same repetition.
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

from _common import RawPublisher, median_range

from mqtt_surge import MosquittoBroker

HERE = Path(__file__).parent
RESULTS = HERE / "results"


def run_child(url: str, impl: str, n: int, *extra: str) -> dict[str, object]:
    topic = f"bench/{uuid.uuid4().hex}"
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "_sub_child.py"), impl, url, topic, str(n), *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "READY":
        proc.kill()
        raise RuntimeError(f"{impl} child did not get ready")
    publisher = RawPublisher(__import__("mqtt_surge").parse_broker(url))
    try:
        publisher.send(topic, n)
        # the original design prints its queue-full warnings to stdout: skip to the result
        line = proc.stdout.readline()
        while line and not line.startswith("{"):
            line = proc.stdout.readline()
    finally:
        publisher.close()
    proc.wait(60)
    if not line:
        raise RuntimeError(f"{impl} child exited with {proc.returncode} and no result")
    return dict(json.loads(line))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--impls", default="paho,surge,original")
    parser.add_argument(
        "--max-queue-size",
        type=int,
        default=10_000,
        help="buffer for the throughput runs: large enough that noise on this shared machine "
        "does not turn into drops, which would not measure speed",
    )
    parser.add_argument("--burst", action="store_true", help="also the 1,000,000-message burst")
    parser.add_argument("--burst-n", type=int, default=1_000_000)
    args = parser.parse_args()
    impls = args.impls.split(",")
    date, machine = (
        time.strftime("%Y-%m-%d"),
        f"{platform.machine()}, Python {platform.python_version()}",
    )
    report: dict[str, object] = {"date": date, "machine": machine, "n": args.n}
    with MosquittoBroker() as broker:
        url = broker.url.full
        runs: dict[str, list[dict[str, object]]] = {impl: [] for impl in impls}
        for _ in range(args.repetitions):
            for impl in impls:
                runs[impl].append(
                    run_child(url, impl, args.n, "--max-queue-size", str(args.max_queue_size))
                )
        report["runs"] = runs
        print(f"# subscriber benchmark ({date}, {machine}, mosquitto, {args.n:,} x 64 B QoS 0)\n")
        print(
            "| implementation | msg/s median (min-max) | ratio vs raw paho (per rep) "
            "| CPU us/msg | lost |"
        )
        print("|---|---|---|---|---|")
        paho_rates = [float(r["rate"]) for r in runs.get("paho", [])]
        for impl in impls:
            rates = [float(r["rate"]) for r in runs[impl]]
            cpu = [float(r["cpu_us_per_msg"]) for r in runs[impl]]
            lost = sum(args.n - int(r["delivered"]) for r in runs[impl])
            ratios = (
                ", ".join(f"{a / b:.2f}" for a, b in zip(rates, paho_rates, strict=True))
                if paho_rates
                else "-"
            )
            cpu_median = statistics.median(cpu)
            print(f"| {impl} | {median_range(rates)} | {ratios} | {cpu_median:.1f} | {lost} |")
        if args.burst:
            burst = run_child(
                url, "surge", args.burst_n, "--slow", "0.001", "--max-queue-size", "1000"
            )
            report["burst"] = burst
            stats = burst.get("stats", {})
            idle_mb = int(burst["idle_rss_kb"]) / 1024
            peak_mb = int(burst["peak_rss_kb"]) / 1024
            print(
                f"\nburst: {args.burst_n:,} messages into max_queue_size=1000, callback 1 ms: "
                f"idle RSS {idle_mb:.1f} MB, peak {peak_mb:.1f} MB (+{peak_mb - idle_mb:.1f} MB); "
                f"stats {stats}"
            )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "subscriber.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
