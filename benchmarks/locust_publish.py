"""Publish rate of one Locust process against mosquitto: mqtt-surge's batch mode against
Locust's built-in MQTT user, alternating, in one run.

    python benchmarks/locust_publish.py [--seconds 10] [--repetitions 3]

Rates are messages per second over the run: for ours, messages acknowledged (QoS 1) or written
(QoS 0), counted from the PUBACK / write callbacks; for the built-in user, Locust's request
count (one message per request). Publishers only: no subscriber runs (--no-probe).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mqtt_surge import MosquittoBroker

ROOT = Path(__file__).parents[1]
LOCUST = str(Path(sys.executable).parent / "locust")


def ours(url: str, qos: int, seconds: int, users: int, batch: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        verdict = Path(tmp) / "v.json"
        subprocess.run(
            [
                LOCUST,
                "-f",
                "throughput.py",
                "--host",
                url,
                "--run-time",
                f"{seconds}s",
                "--users",
                str(users),
                "--spawn-rate",
                str(users),
                "--mqtt-rate",
                "0",
                "--mqtt-batch",
                str(batch),
                "--mqtt-qos",
                str(qos),
                "--no-probe",
            ],
            cwd=ROOT / "locustfiles",
            env={**os.environ, "MQTT_SURGE_VERDICT_JSON": str(verdict)},
            capture_output=True,
            text=True,
            timeout=seconds + 180,
            check=False,
        )
        return float(json.loads(verdict.read_text())["sent"]) / seconds


def builtin(host: str, port: int, qos: int, seconds: int, users: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                LOCUST,
                "-f",
                str(ROOT / "benchmarks" / "locust_builtin.py"),
                "--headless",
                "--run-time",
                f"{seconds}s",
                "--users",
                str(users),
                "--spawn-rate",
                str(users),
                "--csv",
                f"{tmp}/s",
                "--only-summary",
            ],
            env={**os.environ, "MQTT_HOST": host, "MQTT_PORT": str(port), "MQTT_QOS": str(qos)},
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
        )
        with open(f"{tmp}/s_stats.csv") as f:
            rows = [r for r in csv.DictReader(f) if r["Name"] == "Aggregated"]
        return float(rows[0]["Request Count"]) / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    results: dict[str, list[float]] = {}
    with MosquittoBroker() as broker:
        for _ in range(args.repetitions):
            for qos in (0, 1):
                results.setdefault(f"mqtt-surge batch={args.batch} QoS {qos}", []).append(
                    ours(broker.url.full, qos, args.seconds, args.users, args.batch)
                )
                results.setdefault(f"locust.contrib.mqtt.MqttUser QoS {qos}", []).append(
                    builtin(broker.host, broker.port, qos, args.seconds, args.users)
                )
    print(
        f"# one Locust process publishing to mosquitto ({time.strftime('%Y-%m-%d')}, "
        f"{args.users} users, {args.seconds} s, {args.repetitions} alternating repetitions)\n"
    )
    print("| publisher | msg/s median | min-max |")
    print("|---|---|---|")
    for name, rates in results.items():
        print(f"| {name} | {statistics.median(rates):,.0f} | {min(rates):,.0f}-{max(rates):,.0f} |")
    out = ROOT / "benchmarks" / "results" / "locust_publish.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
