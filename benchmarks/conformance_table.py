"""The conformance tables: the README's fidelity table and the statement matrix in
docs/conformance.md.

``python benchmarks/conformance_table.py --run`` runs tests/conformance (its outcomes written to
benchmarks/results/, where a plain test run writes to the ignored test-results/), then prints the
fidelity table (one row per behaviour, one column per engine and MQTT version; "not supported" is
an engine's own declaration, ``Broker.capabilities``) and writes docs/conformance.md: every
normative statement of MQTT 3.1.1 and 5.0, chapters 1-4 and 6, from tests/conformance/statements.py,
with each engine's outcome over the tests that cite it, and the counts.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
RESULTS = Path(__file__).parent / "results" / "conformance.json"
STATEMENT_RESULTS = Path(__file__).parent / "results" / "statements.json"
MATRIX = ROOT / "docs" / "conformance.md"
FIDELITY = Path(__file__).parent / "results" / "fidelity.md"
OPTIONS_FIDELITY = Path(__file__).parent / "results" / "options-fidelity.md"
TESTS = ROOT / "tests" / "conformance"
ENGINES = ("embedded", "mosquitto", "amqtt")
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

        STATEMENT_RESULTS.unlink(missing_ok=True)  # no rows from tests since renamed
        run_suite("tests/conformance")
    # the fidelity table: the library-driven behaviours, run on every engine (the raw-socket
    # cases are in the statement matrix)
    behaviours = {
        name
        for module in ("test_core.py", "test_mqtt5.py")
        for name in re.findall(r"^def (test_\w+)", (TESTS / module).read_text(), re.M)
    }
    outcomes: dict[str, dict[tuple[str, str], str]] = {}
    for key, outcome in json.loads(RESULTS.read_text()).items():
        found = re.fullmatch(r"(test_\w+)\[(\w+)-([\d.]+)\]", key)
        if found and found.group(1) in behaviours:
            name, engine, version = found.groups()
            outcomes.setdefault(name, {})[(engine, version)] = outcome
    header = " | ".join(f"{engine} {version}" for engine, version in COLUMNS)
    table = [f"| behaviour | {header} |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, row in outcomes.items():
        label = name.removeprefix("test_").replace("_", " ")
        cells = " | ".join(MARK[row[c]] if c in row else "-" for c in COLUMNS)
        table.append(f"| {label} | {cells} |")
    print("\n".join(table))
    FIDELITY.write_text("\n".join(table) + "\n")  # docs/brokers.md includes it
    options_table()
    if STATEMENT_RESULTS.exists():
        MATRIX.parent.mkdir(exist_ok=True)
        MATRIX.write_text(matrix(json.loads(STATEMENT_RESULTS.read_text())))
        print(f"\nwrote {MATRIX.relative_to(ROOT)}")


def options_table() -> None:
    """One row per test of tests/conformance/test_options.py (a broker configured as in
    production), one column per engine; a cell is the verdict over both MQTT versions where
    the test runs in both."""
    names = re.findall(r"^def (test_\w+)", (TESTS / "test_options.py").read_text(), re.M)
    outcomes: dict[str, dict[str, list[str]]] = {}
    for key, outcome in json.loads(RESULTS.read_text()).items():
        found = re.fullmatch(r"(test_\w+)\[(\w+)(?:-[\d.]+)?\]", key)
        if found and found.group(1) in names:
            outcomes.setdefault(found.group(1), {}).setdefault(found.group(2), []).append(outcome)
    table = ["| configured broker | " + " | ".join(ENGINES) + " |", "|---" * 4 + "|"]
    for name in names:
        row = outcomes.get(name, {})
        label = name.removeprefix("test_").replace("_", " ")
        table.append(f"| {label} | " + " | ".join(_cell(row.get(e, [])) for e in ENGINES) + " |")
    OPTIONS_FIDELITY.write_text("\n".join(table) + "\n")  # docs/brokers.md includes it
    print("\n" + "\n".join(table))


def _cell(outcomes: list[str]) -> str:
    """One engine's verdict on a statement from the outcomes of the tests citing it."""
    outcomes = [o for o in outcomes if o != "skipped"]
    if not outcomes:
        return "-"
    if "fail" in outcomes:
        return "**FAIL**"
    if "departs from the specification" in outcomes:
        return "departs"
    if all(o == "not supported" for o in outcomes):
        return "not supported"
    return "pass"


def matrix(rows: dict[str, dict[str, object]]) -> str:
    sys.path.insert(0, str(ROOT))
    from tests.conformance.statements import V5, V311, VERSIONS

    by_statement: dict[str, dict[str, list[str]]] = {}
    tests: dict[str, set[str]] = {}
    for nodeid, row in rows.items():
        outcome = str(row["outcome"])
        for key in row["statements"]:  # type: ignore[attr-defined]
            # a departing test says which of its statements the engine breaks; the others
            # get no verdict from it
            verdict = outcome
            if outcome.startswith("departs") and key not in row.get("departs", [key]):  # type: ignore[operator]
                verdict = "skipped"
            cell = by_statement.setdefault(key, {})
            cell.setdefault(str(row["engine"]), []).append(verdict)
            tests.setdefault(key, set()).add(nodeid.split("::")[1].split("[")[0])
    out = [
        "# Conformance matrix",
        "",
        "Every normative statement of MQTT 3.1.1 and MQTT 5.0, chapters 1-4 and 6 (MQTT over",
        "WebSocket), that binds a server,",
        "and what the embedded broker, mosquitto 2.0 and amqtt do about it. Each statement a",
        "client on a socket can observe has at least one test in `tests/conformance/` citing it",
        '(`@pytest.mark.statements("5:MQTT-3.1.2-3")`); the raw-socket tests send the same bytes',
        "to the embedded broker and to mosquitto, the library-driven ones run on amqtt too. A cell",
        "is the verdict over every test citing the statement on that engine: *pass*; *departs*",
        "(the engine breaks the statement, a strict xfail: the test fails the day that changes);",
        "*not supported* (the engine declares it lacks the feature); *-* (not run there).",
        "Where mosquitto and the specification disagree, the embedded broker follows the",
        "specification, and the cell says *departs* for mosquitto.",
        "",
        "Generated by `python benchmarks/conformance_table.py --run` from one run of",
        "`tests/conformance/`; the statements and their wording (ours) are in",
        "`tests/conformance/statements.py`.",
        "",
    ]
    summary, sections = [], []
    for table in (V311, V5):
        version = VERSIONS[next(iter(table.values())).version]
        server = [s for s in table.values() if s.binds != "client"]
        tested = [s for s in server if s.key in by_statement]
        verdicts = {
            e: [_cell(by_statement.get(s.key, {}).get(e, [])) for s in tested] for e in ENGINES
        }
        hidden = [s for s in server if s.binds == "hidden"]
        summary.append(
            f"| MQTT {version} | {len(server)} | {len(tested)} | {len(hidden)} | "
            + " | ".join(
                f"{verdicts[e].count('pass')} pass, {verdicts[e].count('departs')} departs"
                + (
                    f", **{verdicts[e].count('**FAIL**')} fail**"
                    if "**FAIL**" in verdicts[e]
                    else ""
                )
                for e in ENGINES[:2]
            )
            + f" | {verdicts['amqtt'].count('pass')} pass |"
        )
        lines = [
            f"## MQTT {version}",
            "",
            "| statement | the server... | embedded | mosquitto | amqtt | tests |",
            "|---|---|---|---|---|---|",
        ]
        for s in server:
            if s.binds == "hidden":
                lines.append(f"| {s.number} | {s.text} | not observable: {s.reason} | | | |")
                continue
            cells = by_statement.get(s.key, {})
            names = ", ".join(f"`{t}`" for t in sorted(tests.get(s.key, ())))
            verdict = " | ".join(_cell(cells.get(e, [])) for e in ENGINES)
            lines.append(f"| {s.number} | {s.text} | {verdict} | {names} |")
        clients = [s for s in table.values() if s.binds == "client"]
        lines += [
            "",
            f"Statements that bind the client only ({len(clients)}, not counted above): "
            + ", ".join(s.number for s in clients)
            + ".",
            "",
        ]
        sections.append("\n".join(lines))
    out += [
        "| version | server statements | tested | not observable | embedded | mosquitto | amqtt |",
        "|---|---|---|---|---|---|---|",
        *summary,
        "",
        "amqtt runs only the library-driven tests (`test_core.py`, `test_mqtt5.py`): the",
        "raw-socket tests are for the engines a fixture offers as a production stand-in.",
        "",
        *sections,
    ]
    return "\n".join(out)


if __name__ == "__main__":
    main()
