"""tls=True: the broker listens with TLS only, under a certificate authority of its own (made
with trustme when the broker is made); the same option on the embedded broker and mosquitto."""

from __future__ import annotations

import socket
import ssl
import uuid
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest

from mqtt_surge import ConfigError, ConnectError, EmbeddedBroker, MosquittoBroker, Subscriber
from mqtt_surge import mqtt as p
from mqtt_surge.brokers import BrokerBase
from mqtt_surge.testing import Recorder

ENGINES = {"embedded": EmbeddedBroker, "mosquitto": MosquittoBroker}


@pytest.fixture(params=sorted(ENGINES), scope="module")
def tls_broker(request: pytest.FixtureRequest) -> Iterator[BrokerBase]:
    with ENGINES[request.param](tls=True) as broker:
        yield broker


def _passes_a_message(
    broker: BrokerBase, payload: bytes, subscriber_tls: ssl.SSLContext, **paho_tls: str
) -> bytes:
    """``payload`` from a paho publisher configured by files (``paho_tls``: ``ca_certs``,
    ``certfile``, ``keyfile``) to a Subscriber with ``subscriber_tls``: what got through."""
    topic = f"tls/{uuid.uuid4().hex[:10]}"
    recorder = Recorder()
    with Subscriber(broker.url, topic, recorder, qos=1, tls=subscriber_tls):
        publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        publisher.tls_set(**paho_tls)
        publisher.connect(broker.host, broker.port)
        publisher.loop_start()
        try:
            publisher.publish(topic, payload, qos=1).wait_for_publish(10)
            (message,) = recorder.wait_for(1)
        finally:
            publisher.loop_stop()
            publisher.disconnect()
    return message.payload


def test_the_url_says_mqtts_and_the_ca_is_a_file(tls_broker: BrokerBase) -> None:
    assert tls_broker.tls is not None
    assert tls_broker.url.scheme == "mqtts"
    assert tls_broker.tls.ca_file.read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_a_client_that_trusts_the_ca_gets_messages_through(tls_broker: BrokerBase) -> None:
    assert tls_broker.tls is not None
    context = tls_broker.tls.client_context()
    payload = _passes_a_message(
        tls_broker, b"encrypted", context, ca_certs=str(tls_broker.tls.ca_file)
    )
    assert payload == b"encrypted"


def test_a_client_that_does_not_trust_the_ca_is_refused(tls_broker: BrokerBase) -> None:
    untrusted = Subscriber(tls_broker.url, "tls/#", Recorder())  # the system's CAs only
    with pytest.raises(ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        untrusted.start(timeout=3)
    assert not untrusted.running


def test_plain_mqtt_gets_no_connack_on_the_tls_port(tls_broker: BrokerBase) -> None:
    with socket.create_connection((tls_broker.host, tls_broker.port), timeout=10) as sock:
        sock.sendall(p.encode_connect(f"plain-{uuid.uuid4().hex[:8]}", level=4))
        data = b""
        try:
            while chunk := sock.recv(4096):
                data += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    assert not data.startswith(bytes((p.CONNACK << 4, 2)))


def test_without_tls_there_is_no_ca() -> None:
    assert EmbeddedBroker().tls is None
    assert MosquittoBroker().tls is None


def test_the_context_verifies_the_host_name(tls_broker: BrokerBase) -> None:
    assert tls_broker.tls is not None
    context = tls_broker.tls.client_context()
    assert context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED


@pytest.fixture(params=sorted(ENGINES), scope="module")
def mutual_broker(request: pytest.FixtureRequest) -> Iterator[BrokerBase]:
    """A broker that requires a client certificate from its own CA (mutual TLS)."""
    with ENGINES[request.param](tls=True, require_certificate=True) as broker:
        yield broker


def test_mutual_tls_lets_a_client_with_a_certificate_in(mutual_broker: BrokerBase) -> None:
    assert mutual_broker.tls is not None
    issued = mutual_broker.tls.client_cert("publisher")  # by file, as most clients take it
    payload = _passes_a_message(
        mutual_broker,
        b"mutual",
        mutual_broker.tls.client_context(cert="device-42"),
        ca_certs=str(mutual_broker.tls.ca_file),
        certfile=str(issued.cert_file),
        keyfile=str(issued.key_file),
    )
    assert payload == b"mutual"


def test_mutual_tls_refuses_a_client_without_a_certificate(mutual_broker: BrokerBase) -> None:
    assert mutual_broker.tls is not None
    bare = Subscriber(
        mutual_broker.url, "mtls/#", Recorder(), tls=mutual_broker.tls.client_context()
    )
    with pytest.raises(ConnectError):
        bare.start(timeout=3)
    assert not bare.running


@pytest.mark.parametrize("engine", ENGINES.values(), ids=list(ENGINES))
def test_require_certificate_without_tls_is_refused_at_once(engine: type[BrokerBase]) -> None:
    with pytest.raises(ConfigError, match="require_certificate=True needs tls=True"):
        engine(require_certificate=True)  # type: ignore[call-arg]
