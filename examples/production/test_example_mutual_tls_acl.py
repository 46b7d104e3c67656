"""An app tested against a broker configured as its production one: mutual TLS (each device
logs in with its certificate, whose common name is its login) and an ACL that lets a device
write only its own telemetry. Runs on --mqtt-broker=embedded and --mqtt-broker=mosquitto."""

import json
import ssl
import threading

import paho.mqtt.client as mqtt
import pytest

ACL = """\
user sensor-17
topic write telemetry/sensor-17/#
user dashboard
topic read telemetry/#
"""


def report(url, tls, device, topic, reading):
    """The app: one reading, published as ``device`` over mutual TLS, QoS 1."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=device)
    client.tls_set_context(tls)
    client.connect(url.host, url.port)
    client.loop_start()
    try:
        client.publish(topic, json.dumps(reading), qos=1).wait_for_publish(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.fixture
def broker(mqtt_broker_factory):
    return mqtt_broker_factory(
        tls=True, require_certificate=True, use_identity_as_username=True, acl=ACL
    )


def test_a_reading_reaches_the_dashboard(broker, mqtt_subscriber):
    dashboard = mqtt_subscriber(
        "telemetry/#", broker=broker, tls=broker.tls.client_context("dashboard"), qos=1
    )
    report(broker.url, broker.client_tls("sensor-17"), "sensor-17", "telemetry/sensor-17/t", 21.5)
    assert json.loads(dashboard.wait_for(1)[0].payload) == 21.5


def test_a_device_cannot_write_as_another(broker, mqtt_subscriber):
    dashboard = mqtt_subscriber(
        "telemetry/#", broker=broker, tls=broker.tls.client_context("dashboard"), qos=1
    )
    tls = broker.client_tls("sensor-17")
    report(broker.url, tls, "sensor-17", "telemetry/sensor-99/t", 99.0)  # denied: dropped
    report(broker.url, tls, "sensor-17", "telemetry/sensor-17/t", 17.0)
    assert [json.loads(m.payload) for m in dashboard.wait_for(1)] == [17.0]


def test_a_client_without_a_certificate_gets_no_session(broker):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="intruder")
    client.tls_set_context(broker.tls.client_context())  # trusts the broker, presents nothing
    sessions, ended = [], threading.Event()
    client.on_connect = lambda *_: sessions.append("CONNACK")
    client.on_disconnect = lambda *_: ended.set()
    try:
        client.connect(broker.url.host, broker.url.port)
        client.loop_start()  # under TLS 1.3 the refusal arrives once the client speaks
        assert ended.wait(10)
    except ssl.SSLError:
        pass  # under TLS 1.2 the handshake itself fails
    finally:
        client.loop_stop()
    assert sessions == []


@pytest.mark.mqtt_broker(tls=True, users={"app": "s3cret"}, acl="user app\ntopic readwrite app/#")
def test_the_marker_form_configures_the_broker_every_fixture_uses(
    mqtt_broker, mqtt_subscriber, mqtt_publish
):
    assert mqtt_broker.url.scheme == "mqtts"  # and the fixtures log in as "app"
    sub = mqtt_subscriber("app/#", qos=1)
    mqtt_publish("app/status", b"up", qos=1)
    assert sub.wait_for(1)[0].payload == b"up"
