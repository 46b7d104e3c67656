"""The matrix itself: every server statement of both specifications has a test or a reason.

The citations are read from the test modules' source: every "5:MQTT-..." or "3.1.1:MQTT-..."
string, in a ``statements`` mark or in a case table its marks are built from, so the check needs
no broker. (conftest.py refuses, at collection, a mark that names no statement.)
"""

from __future__ import annotations

import ast
from pathlib import Path

from .statements import ALL, V5, V311

HERE = Path(__file__).parent


def cited() -> dict[str, list[str]]:
    """statement key -> the tests citing it."""
    found: dict[str, list[str]] = {}
    for path in sorted(HERE.glob("test_*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):  # in a mark, or in a case table the marks are built from
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value.partition(":")[2].startswith("MQTT-")
            ):
                found.setdefault(node.value, []).append(path.name)
    return found


def test_every_citation_names_a_statement() -> None:
    unknown = sorted(k for k in cited() if k not in ALL)
    assert unknown == []


def test_every_server_statement_has_a_test() -> None:
    keys = cited()
    missing = [s.key for s in ALL.values() if s.binds == "server" and s.key not in keys]
    assert missing == []


def test_the_tables_are_whole() -> None:
    """Statement numbers run without gaps within a section, so a dropped line shows."""
    for table in (V311, V5):
        sections: dict[str, list[int]] = {}
        for number in table:
            section, _, n = number.rpartition("-")
            sections.setdefault(section, []).append(int(n))
        for section, ns in sections.items():
            gaps = sorted(set(range(min(ns), max(ns) + 1)) - set(ns))
            assert gaps == [] or section in _KNOWN_GAPS, (section, gaps)


# sections whose numbering the specification itself skips (no statement carries the number)
_KNOWN_GAPS = {"MQTT-2.2.1"}
