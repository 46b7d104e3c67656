"""What every local engine must do, run against each real engine."""

from __future__ import annotations

import gc
import socket
import threading

import paho.mqtt.client as mqtt
import pytest

from mqtt_surge import BrokerStartError, ConfigError, broker_from_spec
from mqtt_surge.brokers import (
    AmqttBroker,
    BrokerBase,
    EmbeddedBroker,
    ExternalBroker,
    MosquittoBroker,
    NativeBroker,
)

from .._support import open_fds, roundtrip, thread_idents, threads_started_since

ENGINES = ["embedded", "amqtt", "mosquitto"]


@pytest.mark.parametrize("engine", ENGINES)
def test_start_roundtrip_stop(engine: str) -> None:
    broker = broker_from_spec(engine)
    with broker:
        assert broker.running
        assert broker.host == "127.0.0.1"
        assert broker.port > 0
        assert broker.url.port == broker.port
        assert roundtrip(broker.url, b"payload-1") == b"payload-1"
    assert not broker.running


@pytest.mark.parametrize("engine", ENGINES)
def test_stop_is_idempotent_and_safe_before_start(engine: str) -> None:
    broker = broker_from_spec(engine)
    broker.stop()
    broker.start()
    broker.stop()
    broker.stop()
    assert not broker.running


@pytest.mark.parametrize("engine", ENGINES)
def test_restart_keeps_the_port(engine: str) -> None:
    broker = broker_from_spec(engine)
    with broker:
        port = broker.port
    with broker:
        assert broker.port == port
        assert roundtrip(broker.url) == b"hello"


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_two_hundred_cycles_leave_nothing_behind(engine: str) -> None:
    # one warm-up cycle: imports and lazily created resources are not leaks
    with broker_from_spec(engine) as warm:
        roundtrip(warm.url)
    gc.collect()
    fds, threads = open_fds(), thread_idents()
    for _ in range(200):
        broker = broker_from_spec(engine)
        broker.start()
        broker.stop()
    gc.collect()
    assert threads_started_since(threads) == []
    assert open_fds() <= fds  # a leak grows; an earlier test's leftovers may close


@pytest.mark.parametrize("engine", ENGINES)
def test_two_brokers_side_by_side(engine: str) -> None:
    with broker_from_spec(engine) as one, broker_from_spec(engine) as two:
        assert one.port != two.port
        assert roundtrip(one.url, b"one") == b"one"
        assert roundtrip(two.url, b"two") == b"two"


def test_embedded_and_mosquitto_side_by_side() -> None:
    with EmbeddedBroker() as one, MosquittoBroker() as two:
        assert roundtrip(one.url, b"a") == b"a"
        assert roundtrip(two.url, b"b") == b"b"


@pytest.mark.parametrize("engine", ENGINES)
def test_credentials_let_only_that_login_in(engine: str) -> None:
    with broker_from_spec(engine, username="alice", password="wonder") as broker:
        assert roundtrip(broker.url) == b"hello"
        wrong = broker.url.full.replace("wonder", "nope")
        with pytest.raises(BrokerStartError, match="refused") as info:
            ExternalBroker(wrong).start(timeout=5)
        assert "nope" not in str(info.value)
        anonymous = f"mqtt://{broker.host}:{broker.port}"
        with pytest.raises(BrokerStartError, match="refused"):
            ExternalBroker(anonymous).start(timeout=5)


@pytest.mark.parametrize("engine", ENGINES)
def test_port_already_taken(engine: str) -> None:
    with broker_from_spec(engine) as first:
        second = broker_from_spec(engine, port=first.port)
        with pytest.raises(BrokerStartError, match=f"127.0.0.1:{first.port}") as info:
            second.start(timeout=5)
        assert "in use" in str(info.value)
        assert not second.running
        assert roundtrip(first.url) == b"hello"


def test_spec_picks_the_engine() -> None:
    assert isinstance(broker_from_spec("embedded"), EmbeddedBroker)
    assert isinstance(broker_from_spec("mosquitto"), MosquittoBroker)
    assert isinstance(broker_from_spec("amqtt"), AmqttBroker)
    assert isinstance(broker_from_spec("native"), NativeBroker)
    external = broker_from_spec("mqtt://u:pw@example.com:1884")
    assert isinstance(external, ExternalBroker)
    assert (external.host, external.port) == ("example.com", 1884)
    assert isinstance(broker_from_spec("localhost:1999"), ExternalBroker)


@pytest.mark.parametrize("spec", ["", "rabbit", "mqtt://h:0"])
def test_bad_spec_is_refused(spec: str) -> None:
    with pytest.raises(ConfigError):
        broker_from_spec(spec)


@pytest.mark.parametrize("port", [-1, 65536])
def test_bad_port_is_refused(port: int) -> None:
    with pytest.raises(ConfigError, match=str(port)):
        EmbeddedBroker(port=port)


def test_username_without_password_is_refused() -> None:
    with pytest.raises(ConfigError, match="username and password"):
        MosquittoBroker(username="alice")


def test_engines_share_the_interface() -> None:
    for cls in (EmbeddedBroker, MosquittoBroker, ExternalBroker):
        assert issubclass(cls, BrokerBase)
        for attr in ("host", "port", "url", "start", "stop", "__enter__", "__exit__"):
            assert hasattr(cls, attr), (cls, attr)


@pytest.mark.parametrize("engine", ENGINES)
def test_stop_is_prompt_with_a_subscriber_and_a_silent_socket_connected(engine: str) -> None:
    """What the plugin needs of any local engine: a session's last test may leave a client
    connected, or a socket that never sent CONNECT; stop() must not wait for either."""
    broker = broker_from_spec(engine).start()
    subscribed = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_connect = lambda c, *a: c.subscribe("left/#", 1)
    client.connect(broker.host, broker.port)
    client.loop_start()
    silent = socket.create_connection((broker.host, broker.port))
    try:
        assert subscribed.wait(10)
        done = threading.Event()
        threading.Thread(target=lambda: (broker.stop(), done.set()), daemon=True).start()
        assert done.wait(10), f"{engine}: stop() still running after 10 s"
    finally:
        silent.close()
        client.loop_stop()
        client.disconnect()
