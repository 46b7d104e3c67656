"""The pytest plugin as users run it: pytest in a subprocess, the plugin found through its
entry point, real brokers."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from mqtt_surge import MosquittoBroker

EXAMPLES = Path(__file__).parents[2] / "examples" / "pytest"
INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
{extra}
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A downstream project: the README's examples and an ini file."""
    monkeypatch.delenv("MQTT_SURGE_BROKER", raising=False)
    for example in EXAMPLES.glob("test_*.py"):
        shutil.copy(example, pytester.path / example.name)
    pytester.makeini(INI.format(extra=""))
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=120)


def test_examples_pass_on_the_default_embedded_broker(project: pytest.Pytester) -> None:
    result = run(project)
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "mqtt-surge: broker embedded (mqtt-surge's own broker in a thread, MQTT 3.1.1 and 5*",
            "mqtt-surge: tests ran against embedded mqtt://127.0.0.1:*",
        ]
    )


def test_mosquitto_engine(project: pytest.Pytester) -> None:
    result = run(project, "--mqtt-broker=mosquitto")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["mqtt-surge: tests ran against mosquitto mqtt://127.0.0.1:*"])


def test_a_url_with_credentials_never_shows_the_password(project: pytest.Pytester) -> None:
    with MosquittoBroker(username="ci", password="s3cr3t-pw") as broker:
        result = run(project, f"--mqtt-broker={broker.url.full}")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines([f"mqtt-surge: broker mqtt://ci:***@127.0.0.1:{broker.port}"])
    assert "s3cr3t-pw" not in result.stdout.str() + result.stderr.str()


ENGINE_PROBE = """
import os

def test_engine(mqtt_broker):
    assert mqtt_broker.engine == os.environ["EXPECTED_ENGINE"]
"""


@pytest.mark.parametrize(
    ("ini", "env", "cli", "expected"),
    [
        (None, None, None, "embedded"),
        ("mosquitto", None, None, "mosquitto"),
        ("mosquitto", "embedded", None, "embedded"),
        ("embedded", "embedded", "mosquitto", "mosquitto"),
        (None, "mosquitto", "embedded", "embedded"),
    ],
)
def test_precedence_command_line_then_environment_then_ini(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    ini: str | None,
    env: str | None,
    cli: str | None,
    expected: str,
) -> None:
    pytester.makeini(INI.format(extra=f"mqtt_broker = {ini}" if ini else ""))
    pytester.makepyfile(ENGINE_PROBE)
    monkeypatch.setenv("EXPECTED_ENGINE", expected)
    if env:
        monkeypatch.setenv("MQTT_SURGE_BROKER", env)
    else:
        monkeypatch.delenv("MQTT_SURGE_BROKER", raising=False)
    result = run(pytester, *([f"--mqtt-broker={cli}"] if cli else []))
    result.assert_outcomes(passed=1)


PORT_PROBE = """
import os

def test_{n}(mqtt_broker, mqtt_subscriber, mqtt_publish, mqtt_topic, tmp_path_factory):
    sub = mqtt_subscriber(mqtt_topic)
    mqtt_publish(mqtt_topic, b"x", qos=1)
    sub.wait_for(1)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    out = tmp_path_factory.getbasetemp().parent / f"port-{{worker}}-{n}"
    out.write_text(str(mqtt_broker.port))
"""


def test_xdist_gives_each_worker_its_own_broker(project: pytest.Pytester) -> None:
    for n in range(4):
        project.makepyfile(**{f"test_port_{n}": PORT_PROBE.format(n=n)})
    # --dist each: every worker runs every test, so both certainly start a broker
    result = run(project, "-n", "2", "--dist", "each", "--basetemp", str(project.path / "tmp"))
    result.assert_outcomes(passed=16)
    ports: dict[str, set[str]] = {}
    for f in project.path.rglob("port-*"):
        worker = f.name.split("-")[1]
        ports.setdefault(worker, set()).add(f.read_text())
    assert set(ports) == {"gw0", "gw1"}
    assert all(len(p) == 1 for p in ports.values())  # one broker per worker session
    assert ports["gw0"] != ports["gw1"]


def test_wait_for_failure_lists_what_arrived(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI.format(extra=""))
    pytester.makepyfile(
        """
        def test_two(mqtt_subscriber, mqtt_publish, mqtt_topic):
            sub = mqtt_subscriber(mqtt_topic)
            mqtt_publish(mqtt_topic, b"only-one", qos=1)
            sub.wait_for(2, timeout=1)
        """
    )
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*AssertionError: expected 2 message(s) within 1s, got 1: [[]*=b'only-one'[]]"]
    )
    # the failure points at the test, not inside the helper
    result.stdout.fnmatch_lines(["*sub.wait_for(2, timeout=1)"])


def test_a_callback_exception_fails_its_test(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI.format(extra=""))
    pytester.makepyfile(
        """
        def handle(message):
            raise ValueError("cannot parse " + message.text())

        def test_broken_handler(mqtt_subscriber, mqtt_publish, mqtt_topic):
            sub = mqtt_subscriber(mqtt_topic, callback=handle)
            mqtt_publish(mqtt_topic, b"garbage", qos=1)
            sub.wait_for(1)

        def test_unaffected(mqtt_subscriber, mqtt_publish, mqtt_topic):
            sub = mqtt_subscriber(mqtt_topic)
            mqtt_publish(mqtt_topic, b"fine", qos=1)
            sub.wait_for(1)
        """
    )
    result = run(pytester)
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*1 exception(s) raised in mqtt_subscriber callbacks*",
            "*ValueError: cannot parse garbage",
            "FAILED test_a_callback_exception_fails_its_test.py::test_broken_handler*",
        ]
    )


def test_the_mqtt_marker_selects_broker_tests(project: pytest.Pytester) -> None:
    project.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = run(project, "-m", "not mqtt")
    result.assert_outcomes(passed=1, deselected=4)
    result = run(project, "-m", "mqtt")
    result.assert_outcomes(passed=4, deselected=1)


def test_missing_amqtt_gives_the_install_hint(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI.format(extra=""))
    pytester.makeconftest("import sys\nsys.modules['amqtt'] = None  # as if not installed\n")
    pytester.makepyfile("def test_needs_broker(mqtt_broker):\n    pass\n")
    result = run(pytester, "--mqtt-broker=amqtt")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*mqtt-surge could not provide a broker: EngineNotInstalledError*amqtt*",
            '*pip install "mqtt-surge[[]amqtt[]]"*',
        ]
    )


def test_the_default_broker_runs_without_amqtt(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI.format(extra=""))
    pytester.makeconftest("import sys\nsys.modules['amqtt'] = None  # as if not installed\n")
    pytester.makepyfile("def test_needs_broker(mqtt_broker):\n    assert mqtt_broker.port\n")
    result = run(pytester)
    result.assert_outcomes(passed=1)


def test_missing_mosquitto_gives_the_install_hint(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini(INI.format(extra=""))
    monkeypatch.setenv("MQTT_SURGE_MOSQUITTO", "/nonexistent/mosquitto")
    pytester.makepyfile("def test_needs_broker(mqtt_broker):\n    pass\n")
    result = run(pytester, "--mqtt-broker=mosquitto")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*apt-get install mosquitto*"])


def test_an_unreachable_url_is_the_tests_error(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI.format(extra=""))
    pytester.makepyfile("def test_needs_broker(mqtt_broker):\n    pass\n")
    result = run(pytester, "--mqtt-broker=mqtt://127.0.0.1:1")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*BrokerStartError: *127.0.0.1:1 is unreachable*"])


def test_a_bad_spec_is_reported(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI.format(extra=""))
    pytester.makepyfile("def test_needs_broker(mqtt_broker):\n    pass\n")
    result = run(pytester, "--mqtt-broker=rabbit")
    # a usage error at start-up, once (it was each test's error until issue 27)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert re.search(r"unknown broker engine 'rabbit'", result.stderr.str())


def test_mqtt_client_fixture(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI.format(extra=""))
    pytester.makepyfile(
        """
        def test_raw(mqtt_client, mqtt_subscriber, mqtt_topic):
            sub = mqtt_subscriber(mqtt_topic)
            mqtt_client.publish(mqtt_topic, b"raw", qos=1).wait_for_publish(5)
            assert sub.wait_for(1)[0].payload == b"raw"
        """
    )
    run(pytester).assert_outcomes(passed=1)


RETAINED_ISOLATION_CONFTEST = """
import pytest
from mqtt_surge.testing import RecordingSubscriber

@pytest.fixture(scope="session", autouse=True)
def app_listener(mqtt_broker):
    # a long-lived client of the app under test, subscribed to every test's topics at once
    sub = RecordingSubscriber(broker=mqtt_broker.url, topic="mqtt-surge-test/#", qos=1).start()
    yield sub
    sub.stop()
"""

RETAINED_ISOLATION_TEST = """
import pytest

@pytest.mark.parametrize("n", range(8))
def test_sees_only_its_own_retained(n, mqtt_subscriber, mqtt_publish, mqtt_topic):
    mqtt_publish(f"{mqtt_topic}/status", b"online", qos=1, retain=True)
    sub = mqtt_subscriber(f"{mqtt_topic}/#", qos=1)
    mqtt_publish(f"{mqtt_topic}/marker", b"m", qos=1)
    got = sub.wait_until(lambda ms: any(m.topic.endswith("/marker") for m in ms))
    before = [m.topic for m in got][: [m.topic for m in got].index(f"{mqtt_topic}/marker")]
    assert before == [f"{mqtt_topic}/status"]
"""


@pytest.mark.parametrize("engine", ["embedded", "mosquitto"])
@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_tests_never_see_each_others_retained_messages(
    pytester: pytest.Pytester, engine: str, workers: list[str]
) -> None:
    """Each test publishes a retained message while another client holds a filter matching
    them all; a test's own subscriber gets its own retained message once and nobody else's."""
    pytester.makeini(INI.format(extra=""))
    pytester.makeconftest(RETAINED_ISOLATION_CONFTEST)
    pytester.makepyfile(test_retained=RETAINED_ISOLATION_TEST)
    result = run(pytester, f"--mqtt-broker={engine}", *workers)
    result.assert_outcomes(passed=8)


MARKED_TESTS = """
import pytest

@pytest.mark.mqtt_broker(protocol=5)
def test_user_properties(mqtt_broker, mqtt_subscriber, mqtt_publish, mqtt_topic):
    sub = mqtt_subscriber(mqtt_topic, qos=1, protocol=5)
    mqtt_publish(mqtt_topic, b"x", qos=1, properties={"user_properties": {"unit": "C"}})
    (message,) = sub.wait_for(1)
    assert message.properties.UserProperty == [("unit", "C")]
    assert mqtt_broker.engine == "embedded"

def test_unmarked(mqtt_broker):
    assert mqtt_broker.engine == "amqtt"
"""


def test_a_test_that_needs_mqtt5_runs_on_the_embedded_broker_next_to_amqtt(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(INI.format(extra=""))
    pytester.makepyfile(test_marked=MARKED_TESTS)
    result = run(pytester, "-v", "--mqtt-broker=amqtt")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*tests marked mqtt_broker(*", "*test_user_properties*embedded*PASSED*"]
    )
    summary = [line for line in result.stdout.lines if "tests ran against" in line]
    assert "amqtt" in summary[0]
    assert "embedded" in summary[0]


def test_a_test_that_needs_mqtt5_runs_on_the_default_embedded_broker_itself(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(INI.format(extra=""))
    pytester.makepyfile(test_marked=MARKED_TESTS.replace('== "amqtt"', '== "embedded"'))
    result = run(pytester, "-v")
    result.assert_outcomes(passed=2)
    summary = [line for line in result.stdout.lines if "tests ran against" in line]
    assert summary == [summary[0]]
    assert re.search(r"tests ran against embedded mqtt://127\.0\.0\.1:\d+$", summary[0])


def test_a_need_the_broker_lacks_is_skipped_with_the_reason(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI.format(extra=""))
    # a mosquitto that declares less than it has: the path any other engine would take
    pytester.makeconftest(
        """
        from mqtt_surge.brokers import MosquittoBroker
        from mqtt_surge.brokers._capabilities import Capabilities

        MosquittoBroker.capabilities = Capabilities(
            frozenset({4, 5}), frozenset(), (("shared_subscriptions", "switched off here"),)
        )
        """
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.mqtt_broker(needs=["shared_subscriptions"])
        def test_shared(mqtt_broker):
            raise AssertionError("must not run")
        """
    )
    result = run(pytester, "-rs", "--mqtt-broker=mosquitto")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*mosquitto lacks shared_subscriptions*switched off here*"])


def test_an_unknown_need_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI.format(extra=""))
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.mqtt_broker(needs=["teleportation"])
        def test_x(mqtt_broker):
            pass
        """
    )
    result = run(pytester)
    assert result.ret != 0
    assert "unknown broker feature 'teleportation'" in result.stdout.str() + result.stderr.str()


MQTT5_EXAMPLES = Path(__file__).parents[2] / "examples" / "mqtt5"


@pytest.mark.parametrize("spec", [[], ["--mqtt-broker=mosquitto"]], ids=["embedded", "mosquitto"])
def test_downstream_mqtt5_apps_on_gmqtt_and_paho_pass_unmarked(
    pytester: pytest.Pytester, spec: list[str]
) -> None:
    """The issue's bar: gmqtt on its default protocol and paho with MQTTv5 user properties,
    no marker, on the default broker (and on mosquitto, the same tests)."""
    pytester.makeini(INI.format(extra=""))
    for example in MQTT5_EXAMPLES.glob("test_*.py"):
        shutil.copy(example, pytester.path / example.name)
    result = run(pytester, *spec)
    result.assert_outcomes(passed=2)
    engine = spec[0].split("=")[1] if spec else "embedded"
    result.stdout.fnmatch_lines([f"mqtt-surge: tests ran against {engine} mqtt://127.0.0.1:*"])


def test_a_downstream_mqtt5_app_on_amqtt_fails_naming_the_fix(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI.format(extra=""))
    shutil.copy(MQTT5_EXAMPLES / "test_example_paho_v5.py", pytester.path)
    result = run(pytester, "--mqtt-broker=amqtt")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*does not speak the MQTT version*--mqtt-broker=embedded*"])


FAULT_EXAMPLES = Path(__file__).parents[2] / "examples" / "faults"


@pytest.mark.parametrize("engine", ["embedded", "amqtt", "mosquitto"])
def test_the_fault_example_passes_on_every_local_engine(
    pytester: pytest.Pytester, engine: str
) -> None:
    pytester.makeini(INI.format(extra=""))
    for example in FAULT_EXAMPLES.glob("test_*.py"):
        shutil.copy(example, pytester.path / example.name)
    result = run(pytester, f"--mqtt-broker={engine}")
    result.assert_outcomes(passed=1)


PROCESSES_HANDLERS = """

def handle(message):
    if message.payload == b"garbage":
        raise ValueError("cannot parse garbage")
"""

PROCESSES_TESTS = """
import handlers

def test_two_processes(mqtt_subscriber, mqtt_publisher, mqtt_topic):
    sub = mqtt_subscriber(f"{mqtt_topic}/#", handlers.handle, processes=2, qos=1)
    mqtt_publisher.burst(f"{mqtt_topic}/a", 200, qos=1)
    sub.wait_for(200, timeout=20)
    each = sub.process_stats()
    assert len(each) == 2 and all(s.processed for s in each), each
    assert sum(s.processed for s in each) == 200

def test_a_child_raises(mqtt_subscriber, mqtt_publish, mqtt_topic):
    sub = mqtt_subscriber(f"{mqtt_topic}/#", handlers.handle, processes=2, qos=1)
    mqtt_publish(f"{mqtt_topic}/b", b"garbage", qos=1)
    sub.wait_for(1)
"""


@pytest.mark.parametrize("spec", ["embedded", "mosquitto"])
def test_mqtt_subscriber_with_processes(pytester: pytest.Pytester, spec: str) -> None:
    pytester.makeini(INI.format(extra=""))
    pytester.makepyfile(handlers=PROCESSES_HANDLERS, test_processes=PROCESSES_TESTS)
    result = run(pytester, f"--mqtt-broker={spec}")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*1 exception(s) raised in mqtt_subscriber callbacks*",
            "*ValueError: cannot parse garbage",
            "*raised in subscriber process*",
            "FAILED test_processes.py::test_a_child_raises*",
        ]
    )


def test_mqtt_subscriber_with_processes_on_amqtt_says_why_not(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI.format(extra=""))
    pytester.makepyfile(handlers=PROCESSES_HANDLERS, test_processes=PROCESSES_TESTS)
    result = run(pytester, "--mqtt-broker=amqtt")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*ConfigError: processes > 1 *lacks shared_subscriptions*"])
