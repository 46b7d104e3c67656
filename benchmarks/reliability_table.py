"""Print the README's reliability table from benchmarks/results/reliability.json.

The figures come from the reliability suite: ``python benchmarks/reliability_table.py --run`` runs
it (writing here; a plain test run writes to the ignored test-results/) and then prints the table,
one row per fault and engine; without ``--run`` it only formats the committed figures.
``--run --keepalive 8`` runs the black-hole test again at keepalive 8 s (rows "blackhole@8").
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "reliability.json"
FAULTS = {
    "blackhole": "link black-holed",
    "blackhole@8": "link black-holed, keepalive 8 s",
    "sigstop": "mosquitto SIGSTOP, then SIGCONT",
    "cut-rst": "connection reset (RST)",
    "cut-fin": "connection closed (FIN)",
    "sigkill": "subscriber process SIGKILLed, restarted",
}


MODES = {
    "qos0": "QoS 0",
    "qos1": "QoS 1",
    "qos1-ack-persistent": "QoS 1 + ack after processing + persistent session",
}


def main() -> None:
    args = sys.argv[1:]
    if "--run" in args:  # run the suite first, its figures written here
        sys.path.insert(0, str(Path(__file__).parent))
        from _common import run_suite

        if "--keepalive" in args:  # the black hole again at another keepalive: rows fault@N
            os.environ["MQTT_SURGE_RELIABILITY_KEEPALIVE"] = args[args.index("--keepalive") + 1]
            run_suite("tests/reliability/test_faults.py::test_black_holed_link")
        else:
            run_suite("tests/reliability")
    rows = json.loads(RESULTS.read_text())
    print(
        "| fault | engine | delivery | noticed after (s) | x keepalive | resumed (s) | sent "
        "| lost | duplicates | dropped | deepest buffer (of 200) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for fault, label in FAULTS.items():
        for engine in ("paho", "gmqtt"):
            for mode, delivery in MODES.items():
                r = rows.get(f"{fault}/{engine}/{mode}")
                if r is None:
                    continue
                ratio = r["detect_s"] / r["keepalive_s"] if r["detect_s"] is not None else None
                detect = "-" if r["detect_s"] is None else r["detect_s"]
                print(
                    f"| {label} | {engine} | {delivery} | {detect} | "
                    f"{'-' if ratio is None else f'{ratio:.2f}'} | {r['resume_after_heal_s']} | "
                    f"{r['sent']:,} | **{r['lost']:,}** | {r['duplicates']} | {r['dropped']} | "
                    f"{r['max_queue_depth']} |"
                )


if __name__ == "__main__":
    main()
