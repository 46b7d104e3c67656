"""Publish rate of one Locust process against mosquitto: mqtt-surge's raw client
(MqttFastPublisherUser, --mqtt-client raw), its paho client (MqttPublisherUser) and Locust's
built-in MQTT user, alternating, in one run; the raw client also as --processes 2 (a master and
two workers).

    python benchmarks/locust_publish.py [--seconds 10] [--repetitions 3]

Rates are messages per second over the run: for ours, messages acknowledged (QoS 1) or written
(QoS 0), counted from the PUBACKs / writes; for the built-in user, Locust's request count (one
message per request). Publishers only: no subscriber runs (--no-probe). Each publisher runs at
the user count and batch where it was fastest here (--users/--batch for paho, --raw-users/
--raw-batch for raw).
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


def ours(
    url: str, qos: int, seconds: int, users: int, batch: int, client: str, processes: int = 1
) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        verdict = Path(tmp) / "v.json"
        subprocess.run(
            [
                LOCUST,
                "-f",
                "throughput.py",
                "--mqtt-client",
                client,
                *(["--processes", str(processes)] if processes > 1 else []),
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
    parser.add_argument("--raw-users", type=int, default=16)
    parser.add_argument("--raw-batch", type=int, default=1000)
    args = parser.parse_args()
    results: dict[str, list[float]] = {}
    raw = f"raw client ({args.raw_users} users, batch={args.raw_batch})"
    paho = f"paho client ({args.users} users, batch={args.batch})"
    with MosquittoBroker() as broker:
        url = broker.url.full
        for _ in range(args.repetitions):
            for qos in (0, 1):
                results.setdefault(f"{raw} QoS {qos}", []).append(
                    ours(url, qos, args.seconds, args.raw_users, args.raw_batch, "raw")
                )
                results.setdefault(f"{raw} --processes 2 QoS {qos}", []).append(
                    ours(url, qos, args.seconds, args.raw_users, args.raw_batch, "raw", 2)
                )
                results.setdefault(f"{paho} QoS {qos}", []).append(
                    ours(url, qos, args.seconds, args.users, args.batch, "paho")
                )
                results.setdefault(f"locust.contrib.mqtt.MqttUser QoS {qos}", []).append(
                    builtin(broker.host, broker.port, qos, args.seconds, args.users)
                )
    print(
        f"# Locust publishing to mosquitto ({time.strftime('%Y-%m-%d')}, {args.seconds} s, "
        f"{args.repetitions} alternating repetitions; one process unless --processes 2)\n"
    )
    print("| publisher | msg/s median | min-max |")
    print("|---|---|---|")
    for name, rates in sorted(results.items(), key=lambda item: item[0][-1]):
        print(f"| {name} | {statistics.median(rates):,.0f} | {min(rates):,.0f}-{max(rates):,.0f} |")
    out = ROOT / "benchmarks" / "results" / "locust_publish.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
