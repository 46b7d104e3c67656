"""What a new user sees when something is wrong: one clear report, in the user's own terms.

Each case runs pytest in a subprocess on a small downstream project, as a user would.
"""

from __future__ import annotations

import re

import pytest

from .test_plugin import INI, run

TWO_TESTS = """
def test_one(mqtt_publish, mqtt_topic):
    mqtt_publish(mqtt_topic, b"x", qos=1)


def test_two(mqtt_publish, mqtt_topic):
    mqtt_publish(mqtt_topic, b"x", qos=1)
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("MQTT_SURGE_BROKER", raising=False)
    pytester.makeini(INI.format(extra=""))
    return pytester


def test_the_summary_names_the_brokers_under_xdist(project: pytest.Pytester) -> None:
    project.makepyfile(TWO_TESTS)
    result = run(project, "-n", "2")
    result.assert_outcomes(passed=2)
    result.stdout.re_match_lines(
        [r"mqtt-surge: tests ran against embedded mqtt://127\.0\.0\.1:\d+ \(gw\d\)"]
    )


@pytest.mark.parametrize("marked", [False, True], ids=["unmarked", "marked"])
def test_a_misspelt_engine_is_one_usage_error_with_a_suggestion(
    project: pytest.Pytester, marked: bool
) -> None:
    mark = "@pytest.mark.mqtt_broker(protocol=5)\n" if marked else ""
    project.makepyfile(f"import pytest\n\n{mark}def test_it(mqtt_broker):\n    pass\n")
    result = run(project, "--mqtt-broker=mosquito")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stdout.str() + result.stderr.str()
    assert "did you mean 'mosquitto'?" in output
    assert output.count("unknown broker engine 'mosquito'") == 1
    assert "pluggy" not in output
    assert "During handling" not in output


def test_an_unreachable_url_is_one_line_per_test(project: pytest.Pytester) -> None:
    project.makepyfile(TWO_TESTS)
    result = run(project, "--mqtt-broker=mqtt://127.0.0.1:1")
    result.assert_outcomes(errors=2)
    output = result.stdout.str()
    # one line per test in the error sections (the short summary repeats each, whole under CI)
    sections = output.split("short test summary info")[0]
    assert sections.count("Connection refused") == 2, output
    assert "mqtt://127.0.0.1:1" in output
    assert "The above exception" not in output
    assert "During handling" not in output


def test_mqtt_client_speaks_mqtt5_in_a_test_marked_protocol_5(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        import pytest
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties


        @pytest.mark.mqtt_broker(protocol=5)
        def test_v5(mqtt_client, mqtt_subscriber, mqtt_topic):
            sub = mqtt_subscriber(mqtt_topic, qos=1, protocol=5)
            props = Properties(PacketTypes.PUBLISH)
            props.UserProperty = [("unit", "C")]
            mqtt_client.publish(mqtt_topic, b"21", qos=1, properties=props).wait_for_publish(5)
            assert sub.wait_for(1)[0].properties.UserProperty == [("unit", "C")]
        """
    )
    run(project).assert_outcomes(passed=1)


def test_a_bad_filter_is_reported_without_library_frames(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        def test_bad_filter(mqtt_subscriber):
            mqtt_subscriber("a/#/b")
        """
    )
    result = run(project)
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    failure = output[output.index("_ test_bad_filter _") : output.index("short test summary")]
    assert "ConfigError" in failure
    assert "'a/#/b'" in failure
    assert "mqtt_surge" not in failure.replace("mqtt_surge.runtime.errors.ConfigError", ""), failure
    assert "<string>" not in failure
    assert len(failure.splitlines()) < 15, failure


RAISING = """
import pytest


def boom(message):
    raise ValueError("boom")


@pytest.mark.parametrize("n", range(5))
def test_callback_raises(mqtt_subscriber, mqtt_publish, mqtt_topic, n):
    sub = mqtt_subscriber(mqtt_topic, boom, qos=1)
    mqtt_publish(mqtt_topic, b"x", qos=1)
    sub.wait_for(1)
"""


@pytest.mark.parametrize("engine", ["embedded", "mosquitto"])
def test_a_raising_callback_reads_the_same_on_every_broker(
    project: pytest.Pytester, engine: str
) -> None:
    project.makepyfile(RAISING)
    result = run(project, f"--mqtt-broker={engine}")
    result.assert_outcomes(failed=5)
    output = result.stdout.str()
    assert output.count("Captured log call") == 5, output
    assert "Captured log teardown" not in output
    assert output.count("ValueError: boom") >= 5


def test_the_session_broker_starts_once_when_a_test_moves_to_embedded(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        """
        import pytest


        def test_a(mqtt_broker):
            assert mqtt_broker.engine == "amqtt"


        @pytest.mark.mqtt_broker(protocol=5)
        def test_b(mqtt_broker):
            assert mqtt_broker.engine == "embedded"


        def test_c(mqtt_broker):
            assert mqtt_broker.engine == "amqtt"
        """
    )
    result = run(project, "--mqtt-broker=amqtt", "-p", "no:randomly")
    result.assert_outcomes(passed=3)
    (summary,) = [line for line in result.stdout.lines if "tests ran against" in line]
    assert len(re.findall(r"amqtt mqtt://", summary)) == 1, summary
    assert len(re.findall(r"embedded mqtt://", summary)) == 1, summary
