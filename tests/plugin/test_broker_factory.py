"""A broker per test: ``mqtt_broker_factory(**options)`` and the marker form
``@pytest.mark.mqtt_broker(**options)``, run the way a downstream project runs them (pytester,
a subprocess), on each local engine."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .test_plugin import INI, run

PRODUCTION = Path(__file__).parents[2] / "examples" / "production"


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("MQTT_SURGE_BROKER", raising=False)
    pytester.makeini(INI.format(extra=""))
    return pytester


FOLLOWERS = """
import ssl
import pytest
from mqtt_surge.testing import Publisher

OPTIONS = dict(tls=True, require_certificate=True, users={"app": "s3cret"})

@pytest.mark.mqtt_broker(**OPTIONS)
def test_every_fixture_uses_the_configured_broker(
    mqtt_broker, mqtt_subscriber, mqtt_publish, mqtt_client, mqtt_topic
):
    assert mqtt_broker.url.scheme == "mqtts"
    assert mqtt_broker.url.username == "app"
    sub = mqtt_subscriber(f"{mqtt_topic}/#", qos=1)
    mqtt_publish(f"{mqtt_topic}/a", b"1", qos=1)
    mqtt_client.publish(f"{mqtt_topic}/b", b"2", qos=1).wait_for_publish(10)
    assert sorted(m.payload for m in sub.wait_for(2)) == [b"1", b"2"]

@pytest.mark.mqtt_broker(**OPTIONS)
def test_the_fault_proxy_passes_tls_through(mqtt_broker, mqtt_faults, mqtt_subscriber, mqtt_topic):
    assert mqtt_faults.url.scheme == "mqtts"
    sub = mqtt_subscriber(f"{mqtt_topic}/#", qos=1, broker=mqtt_faults.url,
                          tls=mqtt_broker.client_tls())
    with Publisher(mqtt_broker) as publisher:
        publisher.publish(f"{mqtt_topic}/x", b"through the proxy", qos=1)
    assert sub.wait_for(1)[0].payload == b"through the proxy"
    assert mqtt_faults.counts().connections >= 1

def test_a_factory_broker_is_a_test_of_its_own(mqtt_broker_factory, mqtt_broker, mqtt_subscriber):
    broker = mqtt_broker_factory(users={"a": "1"}, max_qos=1)
    assert broker is not mqtt_broker
    assert broker.url.username == "a"
    sub = mqtt_subscriber("t/#", broker=broker, qos=1)
    with Publisher(broker, protocol=5) as publisher:
        publisher.publish("t/x", b"y", qos=1)
    assert sub.wait_for(1)[0].payload == b"y"

def test_a_bad_option_names_its_value(mqtt_broker_factory):
    with pytest.raises(ValueError, match=r"max_packet_size must be an int from 2 to \\d+, got 0"):
        mqtt_broker_factory(max_packet_size=0)
    with pytest.raises(ValueError, match=r"acl line 2 'topic sometimes a/#'"):
        mqtt_broker_factory(acl="user a\\ntopic sometimes a/#")
    with pytest.raises(ValueError, match="require_certificate=True needs tls=True"):
        mqtt_broker_factory(require_certificate=True)
"""


LACKS = """
import pytest

@pytest.mark.mqtt_broker(wildcard_subscriptions=False)
def test_an_option_only_the_embedded_broker_has(mqtt_broker):
    assert mqtt_broker.engine == "embedded"
"""


@pytest.mark.parametrize(
    ("engine", "outcomes"),
    [
        ("embedded", {"passed": 10}),
        ("mosquitto", {"passed": 9, "skipped": 1}),
        ("amqtt", {"passed": 10}),  # amqtt has none of the options: the embedded broker serves
    ],
)
def test_configured_brokers_on_each_engine(
    project: pytest.Pytester, engine: str, outcomes: dict[str, int]
) -> None:
    """The production examples (mutual TLS with an ACL, a paho WebSocket client), the other
    fixtures following a configured broker, and an option mosquitto lacks: in one run per
    engine."""
    for example in PRODUCTION.glob("test_*.py"):
        shutil.copy(example, project.path / example.name)
    project.makepyfile(test_followers=FOLLOWERS, test_lacks=LACKS)
    result = run(project, f"--mqtt-broker={engine}", "-rs")
    result.assert_outcomes(**outcomes)
    if engine == "mosquitto":
        result.stdout.fnmatch_lines(["*mosquitto lacks option wildcard_subscriptions*"])


def test_a_marker_with_a_bad_option_fails_the_collection_naming_it(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        test_bad="""
import pytest

@pytest.mark.mqtt_broker(max_packet_size=0)
def test_never_runs(mqtt_broker):
    pass
"""
    )
    result = run(project)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*max_packet_size must be an int from 2 to *, got 0*"])


def test_a_broker_we_did_not_start_cannot_be_configured_and_the_test_says_so(
    project: pytest.Pytester,
) -> None:
    from mqtt_surge import EmbeddedBroker

    project.makepyfile(
        test_url="""
import pytest

def test_factory(mqtt_broker_factory):
    mqtt_broker_factory(tls=True)

@pytest.mark.mqtt_broker(tls=True)
def test_marker(mqtt_broker):
    pass
"""
    )
    with EmbeddedBroker() as running:
        result = run(project, f"--mqtt-broker={running.url}", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*a broker we did not start and cannot configure*"])
