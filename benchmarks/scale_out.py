"""Scale-out: a CPU-bound and an I/O-bound callback at processes=1 and processes=2, in one run.

    python benchmarks/scale_out.py [-n 20000] [--repetitions 3]

One mosquitto (MosquittoBroker); a raw-socket publisher writes n QoS 0 messages at once (the
broker queues them: the subscriber is the bottleneck); the subscriber (overflow="block", so
nothing is dropped and TCP holds the rest back) runs a callback of about 200 us of pure-Python
work (CPU-bound: the GIL caps one process at one core) or a 1 ms sleep with 8 workers
(I/O-bound). Rate: messages processed / seconds from the first publish to the last processed.
Configurations alternate within each repetition; the ratio is processes=2 over processes=1 of
the same repetition. Writes results/scale_out.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from _common import RawPublisher
from _work import cpu_bound, io_bound

from mqtt_surge import MosquittoBroker, Subscriber

RESULTS = Path(__file__).parent / "results"
KINDS: dict[str, dict[str, Any]] = {
    "cpu": {"callback": cpu_bound, "worker_threads": 4},
    "io": {"callback": io_bound, "worker_threads": 8},
}


def measure(url: Any, kind: str, processes: int, n: int) -> float:
    topic = f"scale/{uuid.uuid4().hex[:8]}"
    sub = Subscriber(
        url,
        topic,
        KINDS[kind]["callback"],
        worker_threads=KINDS[kind]["worker_threads"],
        overflow="block",
        processes=processes,
    ).start()
    try:
        publisher = RawPublisher(url)
        began = time.monotonic()
        publisher.send(topic, n)
        while sub.stats().processed < n:
            time.sleep(0.02)  # pace: polling the counters of every process
        took = time.monotonic() - began
        publisher.close()
    finally:
        final = sub.stop()
    assert final.processed == n, final
    assert final.accounted, final
    return n / took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20_000)
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()
    rates: dict[str, list[float]] = {}
    with MosquittoBroker() as broker:
        for _ in range(args.repetitions):
            for kind in KINDS:
                for processes in (1, 2):
                    rate = measure(broker.url, kind, processes, args.n)
                    rates.setdefault(f"{kind}/{processes}", []).append(rate)
                    print(f"{kind} processes={processes}: {rate:,.0f} msg/s", flush=True)
    print(f"\n# scale-out, {args.n:,} x 64 B QoS 0, {time.strftime('%Y-%m-%d %H:%M')}\n")
    print("| callback | processes=1 msg/s | processes=2 msg/s | ratio per repetition | median |")
    print("|---|---|---|---|---|")
    summary = {}
    for kind in KINDS:
        one, two = rates[f"{kind}/1"], rates[f"{kind}/2"]
        ratios = [b / a for a, b in zip(one, two, strict=True)]
        summary[kind] = {"processes_1": one, "processes_2": two, "ratios": ratios}
        print(
            f"| {kind} | {statistics.median(one):,.0f} | {statistics.median(two):,.0f} | "
            f"{', '.join(f'{r:.2f}' for r in ratios)} | {statistics.median(ratios):.2f} |"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale_out.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
