"""The reliability suite: faults mid-stream, on both client engines, bounded in time.

Each test records its figures; the session writes them to reliability.json in the results folder
(test-results/, ignored; ``python benchmarks/reliability_table.py --run`` writes the committed
benchmarks/results/reliability.json), merged by key, so xdist workers and partial runs add to one
file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mqtt_surge.transports import ENGINE_ENV, ENGINES

from .._support import RESULTS_DIR, merge_results

RESULTS = RESULTS_DIR / "reliability.json"


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
    merge_results(RESULTS, rows)
