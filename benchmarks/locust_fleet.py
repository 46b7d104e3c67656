"""Connections one Locust process holds: mqtt-surge's fleet user beside Locust's MqttUser.

    python benchmarks/locust_fleet.py          # fleet 1,000/5,000/10,000; MqttUser 1,000/2,000
    python benchmarks/locust_fleet.py --fleet 10000 --builtin 1000 --hold 20
    python benchmarks/locust_fleet.py --fleet "" --builtin "" --spread 50000:3:3:0.1   # 50,000

``--spread connections:processes[:brokers[:rate]]``: a fleet over Locust's --processes, spread
over that many mosquitto processes (one process holds at most its open-file limit of
connections: 20,000 here, where the hard limit cannot be raised), each device publishing
``rate`` msg/s (default 1).

One mosquitto (MosquittoBroker); each configuration is one headless Locust run, publishers only
(--no-probe), every device or user publishing 1 QoS 0 message a second. The Locust process is
sampled every 0.5 s from /proc: CPU time, RSS, and its TCP connections to the broker that are
ESTABLISHED. Reported: connections held after a window of ``--hold`` seconds (and the peak
before it), connect rate (connections / seconds from the first to the last, where all were
reached; Locust's spawn rate, users / 5 per second, paces it), CPU (% of one core) and RSS
growth over the window, each also per 1,000 connections held. Writes results/locust_fleet.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mqtt_surge import MosquittoBroker

ROOT = Path(__file__).parents[1]
LOCUST = str(Path(sys.executable).parent / "locust")
TICK = os.sysconf("SC_CLK_TCK")
STALL = 15.0  # seconds without a new connection: the process holds no more
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Locust's --processes workers are its children)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                children.setdefault(int(_stat(int(entry.name))[1]), []).append(int(entry.name))
            except OSError:
                continue  # ended meanwhile
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def _cpu_seconds(pid: int) -> float:
    total = 0
    for one in _tree(pid):
        with contextlib.suppress(OSError):
            fields = _stat(one)
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / TICK


def _rss_mb(pid: int) -> float:
    pages = 0
    for one in _tree(pid):
        with contextlib.suppress(OSError):
            pages += int(Path(f"/proc/{one}/statm").read_text().split()[1])
    return pages * PAGE_KB / 1024


def _established_to(ports: list[int]) -> int:
    """Client-side TCP connections to ``ports`` on this machine that are ESTABLISHED."""
    count = 0
    wanted = set(ports)
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            if parts[3] == "01" and int(parts[2].rsplit(":", 1)[1], 16) in wanted:
                count += 1
    return count


def run(
    kind: str,
    connections: int,
    urls: list[str],
    ports: list[int],
    hold: float,
    processes: int = 1,
    rate: float = 1.0,
) -> dict[str, Any]:
    port = ports[0]
    if kind == "fleet":
        users = max(1, connections // 100)
        command = [
            LOCUST, "-f", str(ROOT / "locustfiles" / "fleet.py"), "--host", ",".join(urls),
            "--users", str(users), "--spawn-rate", str(max(1, users // 5)),
            "--mqtt-fleet-devices", str(connections // users), "--no-probe",
            "--mqtt-device-rate", str(rate),
            *(["--processes", str(processes)] if processes > 1 else []),
        ]  # fmt: skip
        env = dict(os.environ)
    else:
        command = [
            LOCUST, "-f", str(ROOT / "benchmarks" / "locust_builtin.py"),
            "--users", str(connections), "--spawn-rate", str(max(1, connections // 5)),
        ]  # fmt: skip
        env = {**os.environ, "MQTT_HOST": "127.0.0.1", "MQTT_PORT": str(port),
               "MQTT_QOS": "0", "MQTT_WAIT": "1"}  # fmt: skip
    command += ["--headless", "--run-time", "600s", "--only-summary", "--stop-timeout", "5"]
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    started = time.monotonic()
    base_rss = None
    first = full = None
    peak = 0
    grew_at = started
    try:
        # until all are connected, or no new connection for STALL seconds
        while proc.poll() is None and time.monotonic() - grew_at < STALL:
            time.sleep(0.5)  # pace: sampling
            if base_rss is None:
                base_rss = _rss_mb(proc.pid)
            held = _established_to(ports)
            now = time.monotonic()
            if held > peak:
                peak, grew_at = held, now
            if held and first is None:
                first = now
            if held >= connections:
                full = now
                break
        # the steady state, whatever was reached, is what is measured
        cpu_before = _cpu_seconds(proc.pid)
        time.sleep(hold)  # pace: the measurement window
        held = _established_to(ports)
        cpu = (_cpu_seconds(proc.pid) - cpu_before) / hold * 100
        rss = _rss_mb(proc.pid)
    finally:
        # the workers too: a --processes worker outlives its master for a while, and its
        # devices would reconnect to the next run's brokers where they get the same ports
        family = _tree(proc.pid)
        for pid in family:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        for pid in family[1:]:
            while Path(f"/proc/{pid}").exists() and _stat(pid)[0] != "Z":
                time.sleep(0.2)  # pace: until each worker has gone
    connect_s = (full - first) if full and first else None
    thousands = held / 1000
    return {
        "kind": kind,
        "processes": processes,
        "brokers": len(ports),
        "device_rate": rate,
        "asked": connections,
        "held": held,
        "peak": peak,
        "connect_seconds": None if connect_s is None else round(connect_s, 1),
        "connect_rate": None if not connect_s else round(connections / connect_s),
        "cpu_percent": round(cpu, 1),
        "cpu_percent_per_1000": round(cpu / thousands, 2) if held else None,
        "rss_mb": round(rss, 1),
        "rss_growth_mb_per_1000": round((rss - (base_rss or rss)) / thousands, 2) if held else None,
        "errors": [line for line in err.splitlines() if "Error" in line][-3:],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", default="1000,5000,10000")
    parser.add_argument("--builtin", default="250,500,1000")
    parser.add_argument(
        "--spread",
        default="18000:2",
        help="connections:processes[:brokers[:rate]]: fleet runs with Locust's --processes (all "
        "processes counted), over that many mosquitto processes, devices at rate msg/s",
    )
    parser.add_argument("--hold", type=float, default=15.0, help="seconds at full strength")
    parser.add_argument("--out", default="locust_fleet.json", help="file in benchmarks/results")
    args = parser.parse_args()
    rows = []
    plan = [("fleet", int(n), 1, 1, 1.0) for n in args.fleet.split(",") if n]
    plan += [("builtin", int(n), 1, 1, 1.0) for n in args.builtin.split(",") if n]
    for spread in (p for p in args.spread.split(",") if p):
        count, processes, brokers, rate = ([*spread.split(":"), "", "", ""])[:4]
        plan.append(("fleet", int(count), int(processes or 1), int(brokers or 1), float(rate or 1)))
    with contextlib.ExitStack() as stack:
        started: list[MosquittoBroker] = []
        for kind, size, processes, brokers, rate in plan:
            while len(started) < brokers:  # each holds at most its open-file limit
                started.append(stack.enter_context(MosquittoBroker()))
            use = started[:brokers]
            row = run(
                kind,
                size,
                [b.url.full for b in use],
                [b.port for b in use],
                args.hold,
                processes,
                rate,
            )
            rows.append(row)
            print(json.dumps(row), flush=True)
    names = {"fleet": "mqtt-surge MqttFleetUser", "builtin": "locust.contrib.mqtt.MqttUser"}
    print(
        f"\n# Locust fleets, QoS 0, one process unless --processes ({time.strftime('%Y-%m-%d')})\n"
    )
    print(
        "| user class | processes | brokers | msg/s per device | asked | held (peak) "
        "| connect rate /s | CPU % of a core | CPU % per 1,000 | RSS MB | RSS MB per 1,000 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {names[r['kind']]} | {r['processes']} | {r['brokers']} | {r['device_rate']:g} "
            f"| {r['asked']:,} | {r['held']:,} "
            f"({r['peak']:,}) | {r['connect_rate'] or '-'} "
            f"| {r['cpu_percent']} | {r['cpu_percent_per_1000']} | {r['rss_mb']} "
            f"| {r['rss_growth_mb_per_1000']} |"
        )
    out = ROOT / "benchmarks" / "results" / args.out
    out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
