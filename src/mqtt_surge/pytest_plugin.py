"""pytest plugin: a real broker, a subscriber fixture with injected callbacks, and a publisher.

Installed with ``mqtt-surge[pytest]`` and registered through the ``pytest11`` entry point.

``--mqtt-broker=embedded|amqtt|mosquitto|URL`` (also ``$MQTT_SURGE_BROKER`` and the ini key
``mqtt_broker``; the command line wins, then the environment, then the ini file; the default is
``embedded``). Under pytest-xdist each worker starts its own local broker on its own port.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Callable, Generator, Iterator
from typing import Any

import pytest

from .brokers import BrokerBase, BrokerOptions, EmbeddedBroker, broker_from_spec
from .runtime.errors import AsyncioLoopWarning, ConfigError
from .runtime.url import BrokerURL
from .subscriber._message import Message
from .testing import Publisher, RecordingSubscriber
from .testing._configured import BrokerFactory, Configured, configured_param, start_configured
from .testing._report import callback_errors, packets_section
from .testing._session import SessionBrokers, describe_spec
from .testing.capture import Capture
from .testing.faults import FaultProxy

ENV_VAR = "MQTT_SURGE_BROKER"
DEFAULT = "embedded"
FIXTURES = frozenset(
    {
        "mqtt_broker",
        "mqtt_broker_factory",
        "mqtt_capture",
        "mqtt_topic",
        "mqtt_subscriber",
        "mqtt_publish",
        "mqtt_publisher",
        "mqtt_client",
        "mqtt_faults",
    }
)
_subscribers_key = pytest.StashKey[list[RecordingSubscriber]]()
_brokers_key = pytest.StashKey[SessionBrokers]()
_workers_key = pytest.StashKey[list[str]]()  # what pytest-xdist workers started
_reported_key = pytest.StashKey[set[int]]()
_WORKER_OUTPUT = "mqtt_surge_started"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mqtt-surge", "MQTT broker for tests (mqtt-surge)")
    group.addoption(
        "--mqtt-broker",
        dest="mqtt_broker",
        default=None,
        metavar="SPEC",
        help=f"embedded (mqtt-surge's own MQTT 3.1.1 and 5 broker in a thread), amqtt (amqtt in "
        f"a thread, MQTT 3.1.1), mosquitto (a child process) or a URL such as "
        f"mqtt://user:pass@host:1883; also ${ENV_VAR} or the ini key mqtt_broker "
        f"(default: {DEFAULT})",
    )
    parser.addini("mqtt_broker", f"broker spec for mqtt-surge's fixtures (default: {DEFAULT})")


def broker_spec(config: pytest.Config) -> str:
    """The broker spec in force: command line, then environment, then ini, then the default."""
    for value in (
        config.getoption("mqtt_broker", default=None),
        os.environ.get(ENV_VAR),
        config.getini("mqtt_broker"),
    ):
        if value:
            return str(value).strip()
    return DEFAULT


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "mqtt: the test uses mqtt-surge's broker fixtures")
    config.addinivalue_line(
        "markers",
        "mqtt_broker(protocol=None, needs=[], **options): the MQTT version and broker behaviours "
        "the test needs (mqtt_surge.brokers.FEATURES), run on a broker that has them, else "
        "skipped; with broker options (tls=True, users={...}, acl=..., limits) the test gets a "
        "broker of its own configured so, and every mqtt_* fixture uses it",
    )
    config.stash[_brokers_key] = SessionBrokers()
    config.stash[_workers_key] = []
    spec = broker_spec(config)
    try:
        broker_from_spec(spec)  # a check of the spec: nothing starts before a test needs it
    except ConfigError as exc:
        raise pytest.UsageError(f"mqtt-surge: --mqtt-broker: {exc}") from None


def pytest_report_header(config: pytest.Config) -> list[str]:
    spec = broker_spec(config)
    lines = [f"mqtt-surge: broker {describe_spec(spec)}"]
    if spec == "amqtt":
        lines.append(
            "mqtt-surge: tests marked mqtt_broker(protocol=..., needs=[...]) that amqtt "
            "cannot serve run on the embedded broker"
        )
    return lines


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked ``mqtt_broker(protocol=5, needs=[...])`` that the amqtt engine cannot serve
    runs on the embedded broker instead; on any other broker that lacks what it needs it is
    skipped with the reason."""
    marker = metafunc.definition.get_closest_marker("mqtt_broker")
    if marker is None or "mqtt_broker" not in metafunc.fixturenames:
        return
    protocol = marker.kwargs.get("protocol")
    needs = list(marker.kwargs.get("needs", ()))
    options = {k: v for k, v in marker.kwargs.items() if k not in ("protocol", "needs")}
    spec = broker_spec(metafunc.config)
    try:
        primary = broker_from_spec(spec)
        missing = primary.capabilities.missing(protocol, needs)
        BrokerOptions.check(**options)  # a bad value fails the collection, naming it
    except ValueError as exc:  # ConfigError included: a bad spec or an unknown feature name
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: {exc}") from None
    if options:
        # a broker of the test's own, configured so; mqtt_broker's scope is the test's
        param = configured_param(spec, protocol, needs, options)
        metafunc.parametrize("mqtt_broker", [param], indirect=True, scope="function")
        return
    if not missing:
        return
    reason = f"{primary.engine} lacks {'; '.join(missing)}"
    # amqtt lacks MQTT 5 and a few behaviours; the embedded broker has them all, in-process and
    # stdlib-only, so the test still runs without anything else installed
    if spec == "amqtt" and not EmbeddedBroker.capabilities.missing(protocol, needs):
        metafunc.parametrize("mqtt_broker", ["embedded"], indirect=True, scope="session")
    else:
        metafunc.parametrize(
            "mqtt_broker",
            [pytest.param(spec, marks=pytest.mark.skip(reason=f"mqtt-surge: {reason}"))],
            indirect=True,
            scope="session",
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.mqtt)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    started = [*config.stash[_brokers_key].started, *config.stash[_workers_key]]
    if started:
        terminalreporter.write_line(f"mqtt-surge: tests ran against {', '.join(started)}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    config.stash[_brokers_key].stop()
    if hasattr(config, "workeroutput"):  # a pytest-xdist worker: tell the controller
        config.workeroutput[_WORKER_OUTPUT] = config.stash[_brokers_key].started


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """pytest-xdist's controller: what each worker started goes in the summary."""
    started = getattr(node, "workeroutput", {}).get(_WORKER_OUTPUT, [])
    worker = node.gateway.id
    node.config.stash[_workers_key].extend(f"{entry} ({worker})" for entry in started)


@pytest.fixture
def mqtt_broker_factory(pytestconfig: pytest.Config) -> Iterator[Callable[..., BrokerBase]]:
    """Factory: ``broker = mqtt_broker_factory(tls=True, users={"app": "s3cret"}, acl="...")``
    starts a broker of the ``--mqtt-broker`` engine with those options (see
    :class:`~mqtt_surge.brokers.BrokerOptions`) and stops it when the test ends. An engine
    without an option skips the test with the reason (amqtt hands over to the embedded broker;
    a URL cannot be configured). Hand the broker object to ``mqtt_subscriber(...,
    broker=broker)``, ``Publisher(broker)`` or ``Subscriber(broker=broker)``: they take its
    URL, login and TLS context from it."""
    factory = BrokerFactory(broker_spec(pytestconfig))
    yield factory
    factory.stop()


@pytest.fixture(scope="session")
def mqtt_broker(
    pytestconfig: pytest.Config, request: pytest.FixtureRequest
) -> Iterator[BrokerBase]:
    """The started broker for ``--mqtt-broker``: ``host``, ``port``, ``url`` (session-wide);
    for a test marked ``mqtt_broker(...)`` that amqtt cannot serve, the embedded broker; for
    one marked with broker options (``mqtt_broker(tls=True, ...)``), a broker of its own."""
    __tracebackhide__ = True
    param = getattr(request, "param", None)
    if isinstance(param, Configured):
        broker = start_configured(param.engine, param.options)
        try:
            yield broker
        finally:
            broker.stop()
        return
    spec = param or broker_spec(pytestconfig)
    shared = pytestconfig.stash[_brokers_key].get(spec)
    if isinstance(shared, str):
        pytest.fail(shared, pytrace=False)
    yield shared


@pytest.fixture
def mqtt_topic(request: pytest.FixtureRequest) -> str:
    """A topic prefix of this test's own, so tests sharing a broker never see each other's
    messages: subscribe to ``f"{mqtt_topic}/#"``, publish to ``f"{mqtt_topic}/..."``."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"mqtt-surge-test/{worker}/{uuid.uuid4().hex[:12]}"


@pytest.fixture
def mqtt_subscriber(
    mqtt_broker: BrokerBase, request: pytest.FixtureRequest
) -> Iterator[Callable[..., RecordingSubscriber]]:
    """Factory: ``sub = mqtt_subscriber("sensors/#", callback=None, **options)``.

    Returns a started :class:`~mqtt_surge.testing.RecordingSubscriber` (its SUBACK arrived):
    ``sub.messages``, ``sub.wait_for(count=1, timeout=5)``, ``sub.wait_until(predicate)``. Your
    ``callback`` still runs. Every subscriber is stopped at teardown, and an exception raised by
    one of its callbacks fails the test. With ``processes=2`` the callback (importable by name)
    runs in two child processes on a shared subscription, and the recorder here sees what they
    processed.
    """
    created: list[RecordingSubscriber] = []
    request.node.stash[_subscribers_key] = created

    def make(
        topic: Any, callback: Callable[[Message], Any] | None = None, **options: Any
    ) -> RecordingSubscriber:
        # processes=N needs shared subscriptions: the broker object lets the subscriber check
        options.setdefault(
            "broker", mqtt_broker if options.get("processes", 1) != 1 else mqtt_broker.url
        )
        if isinstance(options["broker"], BrokerURL) and mqtt_broker.tls is not None:
            options.setdefault("tls", mqtt_broker.client_tls())
        __tracebackhide__ = True
        start_timeout = options.pop("start_timeout", 10.0)
        try:
            sub = RecordingSubscriber(topic=topic, callback=callback, **options)
        except ConfigError as exc:
            error = exc  # raised below, outside this handler: no chain of our frames to it
        else:
            created.append(sub)
            with warnings.catch_warnings():
                if callback is None:
                    # only the recorder: the "use an async callback" advice would be noise in
                    # an async test
                    warnings.simplefilter("ignore", AsyncioLoopWarning)
                sub.start(timeout=start_timeout)
            return sub
        raise error.with_traceback(None)

    yield make
    for sub in created:
        sub.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A callback exception fails the test that owns the subscriber (at the end of its call
    phase, or at teardown for one that came while the subscriber stopped)."""
    report = yield
    if report.when == "call" and report.failed:
        section = packets_section(item)  # what the broker saw, beside pytest's captured logs
        if section is not None:
            report.sections.append(section)
    subscribers = item.stash.get(_subscribers_key, None)
    if not subscribers or report.when not in ("call", "teardown") or report.failed:
        return report
    errors = [(sub, error) for sub in subscribers for error in sub.errors]
    seen = item.stash.setdefault(_reported_key, set())
    new = [(sub, e) for sub, e in errors if id(e) not in seen]
    if not new:
        return report
    seen.update(id(e) for _, e in new)
    report.outcome = "failed"
    report.longrepr = callback_errors(new)
    return report


@pytest.fixture
def mqtt_publisher(mqtt_broker: BrokerBase, request: pytest.FixtureRequest) -> Iterator[Publisher]:
    """A connected :class:`~mqtt_surge.testing.Publisher` for this test: ``publish(...)``
    returns when the publish is complete (PUBACK for QoS 1, written for QoS 0);
    ``burst(topic, n, rate=None)`` sends sequence-numbered payloads. One connection, kept open
    until the test ends; MQTT 5 (``publish(..., properties={...})``) in a test marked
    ``mqtt_broker(protocol=5)``."""
    with Publisher(mqtt_broker, protocol=_test_protocol(request)) as publisher:
        yield publisher


def _test_protocol(request: pytest.FixtureRequest) -> int:
    """5 for a test marked ``mqtt_broker(protocol=5)``, else 4 (MQTT 3.1.1)."""
    marker = request.node.get_closest_marker("mqtt_broker")
    return 5 if marker is not None and marker.kwargs.get("protocol") == 5 else 4


@pytest.fixture
def mqtt_publish(mqtt_publisher: Publisher) -> Callable[..., None]:
    """``mqtt_publish(topic, payload, qos=0, retain=False)``: returns when the publish is
    complete."""
    return mqtt_publisher.publish


@pytest.fixture
def mqtt_capture(mqtt_broker: BrokerBase) -> Capture:
    """What clients publish from now on, seen from the broker's side (no subscription, nothing
    missed): ``.messages``, ``.on(filter)``, ``.wait_for(count=1, timeout=5)``,
    ``.assert_nothing(filter, within=0.5)``. Needs a broker that records packets (the embedded
    one); elsewhere the test is skipped with the reason."""
    missing = mqtt_broker.capabilities.missing(None, ["packet_capture"])
    if missing:
        pytest.skip(f"mqtt-surge: {mqtt_broker.engine} lacks {missing[0]}")
    return Capture(mqtt_broker)


@pytest.fixture
def mqtt_faults(mqtt_broker: BrokerBase) -> Iterator[FaultProxy]:
    """A :class:`~mqtt_surge.faults.FaultProxy` of this test's own in front of the broker: point
    the code under test at ``mqtt_faults.url`` (``host``, ``port``), then ``cut()``,
    ``blackhole()``, ``refuse_new()``, ``latency(ms)``, ``throttle(bytes_per_s)``, ``heal()``.
    Closed at teardown, whatever the test left on."""
    with FaultProxy(mqtt_broker) as proxy:
        yield proxy


@pytest.fixture
def mqtt_client(mqtt_broker: BrokerBase, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A connected paho client (its network loop running) for anything the helpers do not do;
    MQTT 5 in a test marked ``mqtt_broker(protocol=5)``."""
    publisher = Publisher(mqtt_broker, protocol=_test_protocol(request)).connect()
    try:
        yield publisher.client
    finally:
        publisher.close()
