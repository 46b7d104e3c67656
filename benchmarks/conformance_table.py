"""Print the README's fidelity table from benchmarks/results/conformance.json.

The outcomes come from the conformance suite: ``python benchmarks/conformance_table.py --run`` runs
it (writing here; a plain test run writes to the ignored test-results/), then prints one row per
behaviour, one column per engine and MQTT version; "not supported" is an engine's own declaration
(``Broker.capabilities``), with its reason in the README.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "conformance.json"
COLUMNS = [
    ("embedded", "3.1.1"),
    ("embedded", "5"),
    ("mosquitto", "3.1.1"),
    ("mosquitto", "5"),
    ("amqtt", "3.1.1"),
    ("amqtt", "5"),
]
MARK = {"pass": "pass", "fail": "**FAIL**", "not supported": "not supported"}


def main() -> None:
    if "--run" in sys.argv[1:]:  # run the suite first, its figures written here
        sys.path.insert(0, str(Path(__file__).parent))
        from _common import run_suite

        run_suite("tests/conformance")
    outcomes: dict[str, dict[tuple[str, str], str]] = {}
    for key, outcome in json.loads(RESULTS.read_text()).items():
        found = re.fullmatch(r"(test_\w+)\[(\w+)-([\d.]+)\]", key)
        if found:
            name, engine, version = found.groups()
            outcomes.setdefault(name, {})[(engine, version)] = outcome
    header = " | ".join(f"{engine} {version}" for engine, version in COLUMNS)
    print(f"| behaviour | {header} |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for name, row in outcomes.items():
        label = name.removeprefix("test_").replace("_", " ")
        cells = " | ".join(MARK[row[c]] if c in row else "-" for c in COLUMNS)
        print(f"| {label} | {cells} |")


if __name__ == "__main__":
    main()
