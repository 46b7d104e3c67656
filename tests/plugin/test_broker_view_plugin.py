"""The broker's view, the clock and protocol faults as a downstream project meets them: the
examples on each engine (run where the engine has the capability, handed to the embedded broker
from amqtt, skipped with the reason on mosquitto), the capture fixture, and the broker's packets
in a failing test's report."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .test_plugin import INI, run

EXAMPLES = Path(__file__).parents[2] / "examples" / "broker_view"


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("MQTT_SURGE_BROKER", raising=False)
    pytester.makeini(INI.format(extra=""))
    for example in EXAMPLES.glob("test_*.py"):
        shutil.copy(example, pytester.path / example.name)
    return pytester


EXTRA = {
    "test_plain": """
def test_capture(mqtt_capture):
    assert mqtt_capture.messages == []
""",
    "test_fails": """
def test_expects_the_wrong_payload(mqtt_subscriber, mqtt_publish, mqtt_topic):
    sub = mqtt_subscriber(f"{mqtt_topic}/#", qos=1)
    mqtt_publish(f"{mqtt_topic}/status", b"up", qos=1, retain=True)
    assert sub.wait_for(1)[0].payload == b"down"
""",
    "test_passes": """
def test_fine(mqtt_publish, mqtt_topic):
    mqtt_publish(f"{mqtt_topic}/x", b"1", qos=1)
""",
    "test_clock": """
def test_clock(mqtt_broker_factory):
    broker = mqtt_broker_factory(clock="manual")
    start = broker.clock.now()
    broker.clock.advance(3600)
    assert broker.clock.now() == start + 3600
""",
}


@pytest.mark.parametrize(
    ("engine", "outcomes"),
    [
        ("embedded", {"passed": 7, "failed": 1}),
        # the examples' real-time test and test_passes run; the rest needs what mosquitto lacks
        ("mosquitto", {"passed": 2, "skipped": 5, "failed": 1}),
        # the marked examples and the factory's clock go to the embedded broker; the unmarked
        # capture is skipped, as on any broker that does not record packets
        ("amqtt", {"passed": 6, "skipped": 1, "failed": 1}),
    ],
)
def test_the_broker_view_on_each_engine(
    project: pytest.Pytester, engine: str, outcomes: dict[str, int]
) -> None:
    """The examples (deliver twice, the clock beside real time, the capture), the capture
    fixture unmarked, the factory on a manual clock, and a failing test whose report shows the
    broker's packets: in one run per engine."""
    project.makepyfile(**EXTRA)
    result = run(project, f"--mqtt-broker={engine}", "-rs")
    result.assert_outcomes(**outcomes)
    out = result.stdout.str()
    if engine == "embedded":
        result.stdout.fnmatch_lines(
            [
                "*mqtt-surge: the broker's packets under mqtt-surge-test/*",
                "*in *SUBSCRIBE packet_id=1 'mqtt-surge-test/*/#' q1*",
                "*in *PUBLISH 'mqtt-surge-test/*/status' qos=1 retain=True*",
                "*out *PUBLISH 'mqtt-surge-test/*/status' qos=1*",
            ]
        )
        assert out.count("the broker's packets under") == 1  # the failing test's only
    else:  # no broker of these records packets: the failure is pytest's alone
        assert "the broker's packets under" not in out
    if engine == "mosquitto":
        result.stdout.fnmatch_lines(
            [
                "*mosquitto lacks protocol_faults*only the embedded*",
                "*mosquitto lacks packet_capture*",
            ]
        )
