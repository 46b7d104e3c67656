"""The reliability suite: faults mid-stream, on both client engines, bounded in time.

Each test records its figures; the session writes them to benchmarks/results/reliability.json
(merged by key, so xdist workers and partial runs add to one file) for the README's table.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mqtt_surge._transport import ENGINE_ENV, ENGINES

RESULTS = Path(__file__).parents[2] / "benchmarks" / "results" / "reliability.json"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.reliability)


@pytest.fixture(autouse=True, params=ENGINES)
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    name: str = request.param
    monkeypatch.setenv(ENGINE_ENV, name)
    return name


@pytest.fixture(scope="session")
def figures() -> Iterator[dict[str, dict[str, Any]]]:
    rows: dict[str, dict[str, Any]] = {}
    yield rows
    if not rows:
        return
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with open(RESULTS.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        merged = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        merged.update(rows)
        RESULTS.write_text(json.dumps(dict(sorted(merged.items())), indent=2) + "\n")
