"""The conformance suite runs every behaviour against every local engine, with the same assertions.

A test says what it needs with ``@pytest.mark.mqtt_broker(needs=[...])`` and its MQTT version
with the ``protocol`` parameter; an engine that declares it lacks one (``Broker.capabilities``)
gets the test skipped with the reason, shown as "not supported" in the table. Outcomes are written
to conformance.json in the results folder (test-results/, ignored; ``python
benchmarks/conformance_table.py --run`` writes the committed benchmarks/results/conformance.json),
merged by key.

A test cites the normative statements it checks with ``@pytest.mark.statements("5:MQTT-3.1.2-3",
"3.1.1:MQTT-3.1.2-3")`` (version, then number: the two specifications number differently); each
outcome goes to statements.json with them, and benchmarks/conformance_table.py turns that into the
matrix in docs/conformance.md (statement -> engine).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mqtt_surge.brokers import BrokerBase

from .._support import RESULTS_DIR, merge_results
from ._early import ConnectTimeoutCase, SilentClientCase
from ._peer import Peer
from ._raw import Raw, unique
from .statements import ALL

RESULTS = RESULTS_DIR / "conformance.json"
STATEMENTS = RESULTS_DIR / "statements.json"
_outcomes: dict[str, str] = {}
_departs: dict[str, list[str]] = {}  # nodeid -> the statements its engine breaks
_early: dict[
    str, Any
] = {}  # "mosquitto": ConnectTimeoutCase, "keepalive-<engine>": SilentClientCase
_early_brokers: list[BrokerBase] = []
EARLY = "test_hostile.py::test_a_connection_that_never_completes_connect_is_closed[mosquitto]"
EARLY_KEEPALIVE = "test_options.py::test_a_client_silent_past_the_server_keepalive_is_disconnected"


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the cases whose wait is the broker's own clock now, on brokers of their own (see
    _early.py): mosquitto's CONNECT timeout, and a silent client past the Server Keep Alive."""
    for engine in ("embedded", "mosquitto"):
        if any(item.nodeid.endswith(f"{EARLY_KEEPALIVE}[{engine}]") for item in session.items):
            from mqtt_surge.brokers import broker_from_spec

            from .test_options import SERVER_KEEPALIVE, SLOW_CLOSE

            broker = broker_from_spec(engine, server_keepalive=SERVER_KEEPALIVE).start()
            _early_brokers.append(broker)
            _early[f"keepalive-{engine}"] = SilentClientCase(broker.url, SLOW_CLOSE).start()
    if any(item.nodeid.endswith(EARLY) for item in session.items):
        from mqtt_surge import MosquittoBroker

        from .test_hostile import connect_timeout_bound

        broker = MosquittoBroker().start()
        _early_brokers.append(broker)
        _early["mosquitto"] = ConnectTimeoutCase(broker.url, connect_timeout_bound("mosquitto"))
        _early["mosquitto"].start()


@pytest.fixture
def early_cases() -> dict[str, Any]:
    return _early


_cited: dict[str, tuple[str, list[str]]] = {}  # nodeid -> (engine, statement keys)


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


@pytest.fixture(params=["embedded", "mosquitto"])
def engine(request: pytest.FixtureRequest) -> BrokerBase:
    """The session's broker of each engine with default settings: the raw-socket cases."""
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.fixture
def raw(engine: BrokerBase) -> Iterator[Callable[..., Raw]]:
    """Factory: ``raw(level=4, client_id=None, **connect_fields)`` connects a raw client (a
    unique client id unless given); ``raw(level=None)`` only opens the socket. All are closed at
    teardown."""
    made: list[Raw] = []

    def make(level: int | None = 4, client_id: str | None = None, **fields: Any) -> Raw:
        r = Raw(engine.url)
        made.append(r)
        if level is not None:
            code, _ = r.connect(
                client_id if client_id is not None else unique(), level=level, **fields
            )
            assert code == 0, f"CONNACK {code:#x}"
        return r

    yield make
    for r in made:
        r.close()


@pytest.fixture
def departs(request: pytest.FixtureRequest) -> Callable[..., None]:
    """``departs("mosquitto", why, "5:MQTT-...", ...)``: where the running engine breaks the
    statements named, the test is a strict xfail there (it fails loudly the day the engine
    changes) and the matrix says *departs* for those statements; the test's other statements get
    no verdict from that run."""

    def mark(engine: str, why: str, *statements: str) -> None:
        assert statements, "name the statements the engine breaks"
        if _engine_of(request.node) == engine:
            request.applymarker(pytest.mark.xfail(strict=True, reason=f"{engine} departs: {why}"))
            request.node.user_properties.append(("departs", list(statements)))

    return mark


def _engine_of(item: pytest.Item) -> str:
    params = getattr(item, "callspec", None)
    for name in ("engine", "broker", "limited", "fresh", "configured", "silent_case"):
        if params is not None and name in params.params:
            return str(params.params[name])
    return "embedded" if "embedded" in getattr(item, "fixturenames", ()) else "?"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent != here:
            continue
        item.add_marker(pytest.mark.conformance)
        keys = [k for m in item.iter_markers("statements") for k in m.args]
        unknown = [k for k in keys if k not in ALL]
        if unknown:
            raise pytest.UsageError(f"{item.nodeid} cites unknown statements: {unknown}")
        if keys:
            _cited[item.nodeid] = (_engine_of(item), keys)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "tests/conformance/" not in report.nodeid.replace("\\", "/"):
        return
    if report.when == "setup" and report.skipped:
        _outcomes[report.nodeid] = "not supported"
    elif report.when == "call" and report.skipped and not hasattr(report, "wasxfail"):
        _outcomes[report.nodeid] = "skipped"  # not applicable to this case; counted nowhere
    elif report.when == "call" and hasattr(report, "wasxfail"):
        _outcomes[report.nodeid] = "departs from the specification"
        for name, value in report.user_properties:
            if name == "departs":
                _departs[report.nodeid] = value
    elif report.when == "call":
        _outcomes[report.nodeid] = "pass" if report.passed else "fail"
    elif report.when == "setup" and report.failed:
        _outcomes[report.nodeid] = "fail"


def pytest_sessionfinish(session: pytest.Session) -> None:
    for broker in _early_brokers:
        broker.stop()
    merge_results(RESULTS, {nodeid.split("::", 1)[1]: o for nodeid, o in _outcomes.items()})
    merge_results(
        STATEMENTS,
        {
            nodeid: {
                "engine": _cited[nodeid][0],
                "statements": _cited[nodeid][1],
                "outcome": o,
                "departs": _departs.get(nodeid, _cited[nodeid][1]),
            }
            for nodeid, o in _outcomes.items()
            if nodeid in _cited
        },
    )
