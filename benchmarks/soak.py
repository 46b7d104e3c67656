"""Soak: a subscriber under a continuous QoS 0 flood for minutes, RSS, fds and threads sampled.

    python benchmarks/soak.py --minutes 5 --engine gmqtt     # or: bash ci/soak.sh
    python benchmarks/soak.py --seconds 60                    # a short check

A raw-socket publisher floods mosquitto; the subscriber (max_queue_size=1000, a 1 ms callback)
drops the oldest. Every ``--every`` seconds: RSS, open fds, threads and the counters. It fails
(exit 1) if RSS grew more than ``--max-rss-growth-mb`` after the first sample, if fds or threads
are not back to their start after stop(), or if the accounting invariant does not hold.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from pathlib import Path

from _common import RawPublisher

from mqtt_surge import Message, MosquittoBroker, Subscriber

RESULTS = Path(__file__).parent / "results"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, help="overrides --minutes")
    parser.add_argument("--engine", default="paho", choices=["paho", "gmqtt"])
    parser.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--max-rss-growth-mb", type=float, default=20.0)
    args = parser.parse_args()
    duration = args.seconds if args.seconds is not None else args.minutes * 60

    def callback(_message: Message) -> None:
        time.sleep(0.001)  # pace: simulated work, so the buffer stays full and drops

    with MosquittoBroker() as broker:
        start_fds, start_threads = fds(), threading.active_count()
        topic = f"soak/{uuid.uuid4().hex}"
        sub = Subscriber(
            broker.url, topic, callback, engine=args.engine, max_queue_size=1000, worker_threads=4
        )
        sub.start()
        publisher = RawPublisher(broker.url)
        stop = threading.Event()

        def flood() -> None:
            while not stop.is_set():
                publisher.send(topic, 2000)

        flooder = threading.Thread(target=flood, daemon=True)
        flooder.start()
        samples = []
        print("| s | RSS MB | fds | threads | received | processed | dropped |")
        print("|---|---|---|---|---|---|---|")
        began = time.monotonic()
        while (elapsed := time.monotonic() - began) < duration:
            stats = sub.stats()
            row = {
                "s": round(elapsed),
                "rss_mb": round(rss_mb(), 1),
                "fds": fds(),
                "threads": threading.active_count(),
                "received": stats.received,
                "processed": stats.processed,
                "dropped": stats.dropped,
            }
            samples.append(row)
            print(
                "| "
                + " | ".join(f"{v:,}" if isinstance(v, int) else str(v) for v in row.values())
                + " |",
                flush=True,
            )
            stop.wait(args.every)  # pace: the sampling interval
        stop.set()
        flooder.join(10)
        final = sub.stop(timeout=5)
        publisher.close()
        end_fds, end_threads = fds(), threading.active_count()
    growth = max(s["rss_mb"] for s in samples) - samples[0]["rss_mb"]
    settled = final.processed + final.failed + final.dropped + final.abandoned
    verdict = {
        "rss growth after the first sample <= limit": growth <= args.max_rss_growth_mb,
        "received == processed + failed + dropped + abandoned": final.received == settled,
        "fds back to the start after stop()": end_fds <= start_fds,
        "threads back to the start after stop()": end_threads <= start_threads,
    }
    print(
        f"\nRSS growth {growth:.1f} MB; final {final}; fds {start_fds}->{end_fds}; "
        f"threads {start_threads}->{end_threads}"
    )
    for name, ok in verdict.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"soak-{args.engine}.json").write_text(
        json.dumps(
            {
                "date": time.strftime("%Y-%m-%d %H:%M"),
                "engine": args.engine,
                "seconds": duration,
                "samples": samples,
                "rss_growth_mb": growth,
                "verdict": verdict,
            },
            indent=2,
        )
        + "\n"
    )
    return 0 if all(verdict.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
