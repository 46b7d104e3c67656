"""Subscribers side by side, in one run: raw paho, mqtt-surge, the original design, aiomqtt,
gmqtt; then scenarios (slow callbacks, async callbacks, a 1,000,000-message burst).

    python benchmarks/subscriber.py                       # throughput, QoS 0 and QoS 1
    python benchmarks/subscriber.py --scenarios --burst   # everything (several minutes)

One mosquitto (MosquittoBroker), a raw-socket publisher of pre-encoded packets (not the
bottleneck), each subscriber in a process of its own, implementations alternating within each
repetition. Rates count messages delivered to the callback, first to last; ratios compare with
raw paho measured in the same repetition. mqtt-surge runs QoS 1 with ack="after_processing",
raw paho with its automatic acks. Writes results/subscriber.json, results/subscriber.md and,
with matplotlib installed, results/subscriber.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from _common import RawPublisher, median_range

from mqtt_surge import MosquittoBroker, parse_broker
from mqtt_surge.runtime import children as _children

HERE = Path(__file__).parent
RESULTS = HERE / "results"
PEERS = ["paho", "surge", "surge-gmqtt", "original", "aiomqtt", "gmqtt"]
BASELINES = ("paho", "gmqtt")  # every row gets its ratio to each, per repetition
NAMES = {"surge": "mqtt-surge (paho)", "surge-gmqtt": "mqtt-surge (gmqtt engine)"}
# QoS >= 1 runs mqtt-surge with ack="after_processing"; this row adds the gmqtt engine with acks
# on receipt, which is what raw gmqtt and raw paho do
ACK_ON_RECEIPT = "surge-gmqtt-auto"
PAUSE_SETTLE = 1.0  # seconds for the broker to queue what it took, with the subscriber paused
# the paused setting queues every message in mosquitto for one client: no cap on that queue
UNCAPPED_QUEUES = "max_queued_messages 0\nmax_queued_bytes 0"


def run_child(
    url: str, impl: str, n: int, *extra: str, qos: int = 0, paused: bool = False
) -> dict[str, Any]:
    """One subscriber process, ``n`` messages from the raw publisher. ``paused``: the
    subscriber is stopped (SIGSTOP) while every message is published and the broker queues
    them, then resumed: it reads from a full pipe, so only the receiver sets the rate."""
    topic = f"bench/{uuid.uuid4().hex}"
    proc = _children.popen(
        [
            sys.executable,
            str(HERE / "_sub_child.py"),
            impl,
            url,
            topic,
            str(n),
            "--qos",
            str(qos),
            *extra,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "READY":
        proc.kill()
        raise RuntimeError(f"{impl} child did not get ready")
    publisher = RawPublisher(parse_broker(url))
    try:
        if paused:
            os.kill(proc.pid, signal.SIGSTOP)
        began = time.perf_counter()
        publisher.send(topic, n, qos=qos)
        # what the broker took from the publisher per second: when it is above the receiver's
        # rate, the receiver is the bottleneck
        publish_rate = n / (time.perf_counter() - began)
        if paused:
            time.sleep(PAUSE_SETTLE)  # pace: the broker moves what it took to the paused client
            os.kill(proc.pid, signal.SIGCONT)
        # the original design prints its queue-full warnings to stdout: skip to the result
        line = proc.stdout.readline()
        while line and not line.startswith("{"):
            line = proc.stdout.readline()
    finally:
        publisher.close()
    proc.wait(120)
    if not line:
        raise RuntimeError(f"{impl} child exited with {proc.returncode} and no result")
    return {**json.loads(line), "publish_rate": publish_rate}


class Report:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, text: str = "") -> None:
        print(text, flush=True)
        self.lines.append(text)


def throughput(
    url: str, args: argparse.Namespace, qos: int, out: Report, paused: bool = False
) -> dict[str, list[dict[str, Any]]]:
    impls = list(args.impls)
    if qos and "surge-gmqtt" in impls:
        impls.insert(impls.index("surge-gmqtt") + 1, ACK_ON_RECEIPT)
    runs: dict[str, list[dict[str, Any]]] = {impl: [] for impl in impls}
    for _ in range(args.repetitions):
        for impl in impls:
            if impl == ACK_ON_RECEIPT:
                child = "surge-gmqtt"
            else:
                child = f"{impl}-ack" if impl.startswith("surge") and qos else impl
            extra = ["--max-queue-size", str(args.max_queue_size)]
            runs[impl].append(run_child(url, child, args.n, *extra, qos=qos, paused=paused))
    setting = "receiver-bound (paused, then resumed)" if paused else "live"
    out(
        f"\n### Throughput, QoS {qos}, {setting}: {args.n:,} x 64 B, "
        f"{args.repetitions} repetitions\n"
    )
    if paused:
        out(
            "Receiver-bound: each subscriber is paused (SIGSTOP) while the broker takes every "
            "message and queues it, then resumed: it reads from a full pipe, so the rate is the "
            "receiver's alone.\n"
        )
    else:
        out(
            "Live: a raw-socket publisher writes every message at once while the subscriber "
            "reads (publisher column: the broker's intake in the same run; a row where it is not "
            "above the receiver's rate was not receiver-bound, and is marked).\n"
        )
    out(
        "| implementation | msg/s median (min-max) | ratio to raw paho, per rep | "
        "ratio to raw gmqtt, per rep | CPU us/msg | peak RSS MB | lost | publisher msg/s |"
    )
    out("|---|---|---|---|---|---|---|---|")
    base = {b: [float(r["rate"]) for r in runs.get(b, [])] for b in BASELINES}
    for impl in impls:
        rates = [float(r["rate"]) for r in runs[impl]]
        ratios = [
            ", ".join(f"{rate / ref:.2f}" for rate, ref in zip(rates, base[name], strict=True))
            if base[name]
            else "-"
            for name in BASELINES
        ]
        cpu = statistics.median(float(r["cpu_us_per_msg"]) for r in runs[impl])
        rss = max(int(r["peak_rss_kb"]) for r in runs[impl]) / 1024
        lost = sum(args.n - int(r["delivered"]) for r in runs[impl])
        name = NAMES.get(impl, impl) + (" (ack after processing)" if impl in NAMES and qos else "")
        if impl == ACK_ON_RECEIPT:
            name = "mqtt-surge (gmqtt engine) (ack on receipt)"
        intake = statistics.median(float(r["publish_rate"]) for r in runs[impl])
        live_bound = all(r["publish_rate"] > r["rate"] for r in runs[impl])
        bound = "" if paused or live_bound else " (not above!)"
        out(
            f"| {name} | {median_range(rates)} | {ratios[0]} | {ratios[1]} | {cpu:.1f} | "
            f"{rss:.1f} | {lost} | {intake:,.0f}{bound} |"
        )
    return runs


def scenarios(url: str, out: Report) -> dict[str, Any]:
    results: dict[str, Any] = {}
    out("\n### Slow I/O callback (`time.sleep(0.01)`)\n")
    out("| worker_threads | msg/s | ideal (workers / 0.01 s) | ratio to ideal |")
    out("|---|---|---|---|")
    for workers in (4, 16, 64):
        ideal = workers / 0.01
        n = int(ideal * 3)
        r = run_child(
            url, "surge", n, "--slow", "0.01", "--workers", str(workers),
            "--max-queue-size", str(n),
        )  # fmt: skip
        results[f"slow_{workers}"] = r
        out(f"| {workers} | {r['rate']:,.0f} | {ideal:,.0f} | {r['rate'] / ideal:.2f} |")
    out("\n### Async callback (`await asyncio.sleep(0.01)`)\n")
    out("| engine | max_concurrency | msg/s | ideal (concurrency / 0.01 s) | ratio to ideal |")
    out("|---|---|---|---|---|")
    for impl, engine in (("surge", "paho"), ("surge-gmqtt", "gmqtt")):
        for concurrency in (100, 1000):
            ideal = concurrency / 0.01
            n = min(int(ideal * 3), 100_000)
            r = run_child(
                url, impl, n, "--async-slow", "0.01", "--max-concurrency", str(concurrency),
                "--max-queue-size", str(n),
            )  # fmt: skip
            results[f"async_{engine}_{concurrency}"] = r
            out(
                f"| {engine} | {concurrency} | {r['rate']:,.0f} | {ideal:,.0f} | "
                f"{r['rate'] / ideal:.2f} |"
            )
    return results


def burst(url: str, n: int, out: Report) -> dict[str, Any]:
    r = run_child(
        url, "surge", n, "--slow", "0.001", "--max-queue-size", "1000", "--until-received"
    )
    idle, peak = int(r["idle_rss_kb"]) / 1024, int(r["peak_rss_kb"]) / 1024
    stats = r.get("stats", {})
    out(f"\n### Burst: {n:,} messages into max_queue_size=1000, 1 ms callback\n")
    out(
        f"idle RSS {idle:.1f} MB, peak {peak:.1f} MB (+{peak - idle:.1f} MB); received "
        f"{stats.get('received'):,}, processed {stats.get('processed'):,}, dropped "
        f"{stats.get('dropped'):,}, max_queue_depth {stats.get('max_queue_depth')}"
    )
    return r


def chart(throughputs: dict[int, dict[str, list[dict[str, Any]]]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(8, 4.5))
    impls = list(next(iter(throughputs.values())))
    width = 0.8 / len(throughputs)
    for k, (qos, runs) in enumerate(sorted(throughputs.items())):
        medians = [statistics.median(float(r["rate"]) for r in runs[i]) for i in impls]
        xs = [i + k * width for i in range(len(impls))]
        bars = ax.bar(xs, medians, width, label=f"QoS {qos}")
        ax.bar_label(bars, labels=[f"{m / 1000:.0f}k" for m in medians], fontsize=8)
    labels = [NAMES.get(i, i).replace(" (", "\n(") for i in impls]
    ax.set_xticks([i + width * (len(throughputs) - 1) / 2 for i in range(len(impls))], labels)
    ax.tick_params(axis="x", labelsize=8)
    ax.set_ylabel("messages/s delivered to the callback (median)")
    ax.set_xlabel("QoS 1: mqtt-surge acks after processing, the others on receipt")
    ax.set_title(f"Subscribers on mosquitto, {time.strftime('%Y-%m-%d')}, 2-core machine")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--impls", default=",".join(PEERS))
    parser.add_argument("--qos", default="0,1", help="QoS levels for the throughput runs")
    parser.add_argument(
        "--max-queue-size",
        type=int,
        default=10_000,
        help="buffer for the throughput runs: large enough that noise on this shared machine "
        "does not turn into drops, which would not measure speed",
    )
    parser.add_argument(
        "--receiver-bound",
        action="store_true",
        help="also the receiver-bound setting: each subscriber paused while the broker queues "
        "every message, then resumed",
    )
    parser.add_argument("--scenarios", action="store_true", help="slow and async callbacks")
    parser.add_argument("--burst", action="store_true", help="the 1,000,000-message burst")
    parser.add_argument("--burst-n", type=int, default=1_000_000)
    args = parser.parse_args()
    args.impls = args.impls.split(",")
    machine = f"{platform.machine()}, Python {platform.python_version()}, 2 shared cores"
    out = Report()
    out(f"## Subscriber benchmark ({time.strftime('%Y-%m-%d')}, {machine}, mosquitto)")
    report: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "machine": machine}
    throughputs: dict[int, dict[str, list[dict[str, Any]]]] = {}
    with MosquittoBroker(extra_config=UNCAPPED_QUEUES) as broker:
        url = broker.url.full
        for qos in (int(q) for q in args.qos.split(",") if q):
            throughputs[qos] = throughput(url, args, qos, out)
        report["throughput"] = {str(q): r for q, r in throughputs.items()}
        if args.receiver_bound:
            report["receiver_bound"] = {
                str(q): throughput(url, args, q, out, paused=True)
                for q in (int(q) for q in args.qos.split(",") if q)
            }
        if args.scenarios:
            report["scenarios"] = scenarios(url, out)
        if args.burst:
            report["burst"] = burst(url, args.burst_n, out)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "subscriber.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "subscriber.md").write_text("\n".join(out.lines) + "\n")
    if throughputs and chart(throughputs, RESULTS / "subscriber.png"):
        print(f"\nchart: {RESULTS / 'subscriber.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
