"""The conformance suite runs every behaviour against every local engine, with the same assertions.

A test says what it needs with ``@pytest.mark.mqtt_broker(needs=[...])`` and its MQTT version
with the ``protocol`` parameter; an engine that declares it lacks one (``Broker.capabilities``)
gets the test skipped with the reason, shown as "not supported" in the table. Outcomes are written
to conformance.json in the results folder (test-results/, ignored; ``python
benchmarks/conformance_table.py --run`` writes the committed benchmarks/results/conformance.json),
merged by key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mqtt_surge.brokers import BrokerBase

from .._support import RESULTS_DIR, merge_results
from ._peer import Peer

RESULTS = RESULTS_DIR / "conformance.json"
_outcomes: dict[str, str] = {}


@pytest.fixture(params=["embedded", "amqtt", "mosquitto"])
def broker(request: pytest.FixtureRequest) -> BrokerBase:
    broker: BrokerBase = request.getfixturevalue(request.param)
    protocol = request.getfixturevalue("protocol")
    marker = request.node.get_closest_marker("mqtt_broker")
    needs = list(marker.kwargs.get("needs", [])) if marker else []
    missing = broker.capabilities.missing(protocol, needs)
    if missing:
        pytest.skip(f"not supported by {broker.engine}: {'; '.join(missing)}")
    return broker


@pytest.fixture
def peer(broker: BrokerBase, protocol: int) -> Iterator[Callable[..., Peer]]:
    """Factory: ``peer(client_id=None, manual_ack=False)``; every peer is closed at teardown."""
    made: list[Peer] = []

    def make(**options: Any) -> Peer:
        p = Peer(broker.url, protocol, **options)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent == here:
            item.add_marker(pytest.mark.conformance)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "tests/conformance/" not in report.nodeid.replace("\\", "/"):
        return
    if report.when == "setup" and report.skipped:
        _outcomes[report.nodeid] = "not supported"
    elif report.when == "call" and hasattr(report, "wasxfail"):
        _outcomes[report.nodeid] = "departs from the specification"
    elif report.when == "call":
        _outcomes[report.nodeid] = "pass" if report.passed else "fail"
    elif report.when == "setup" and report.failed:
        _outcomes[report.nodeid] = "fail"


def pytest_sessionfinish(session: pytest.Session) -> None:
    merge_results(RESULTS, {nodeid.split("::", 1)[1]: o for nodeid, o in _outcomes.items()})
