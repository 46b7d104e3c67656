"""The amqtt engine: the hangs and failures FACTS.md warns about; what replaced it as embedded."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading

import paho.mqtt.client as mqtt
import pytest

from mqtt_surge import AmqttBroker, ConfigError, EmbeddedBroker, EngineNotInstalledError

from .._support import WAIT, roundtrip

STOP_BOUND = 10.0  # generous: the point is "does not hang", not speed


def _stop_within(broker: AmqttBroker, seconds: float) -> None:
    done = threading.Event()
    stopper = threading.Thread(target=lambda: (broker.stop(), done.set()), daemon=True)
    stopper.start()
    assert done.wait(seconds), f"stop() still running after {seconds}s"


def test_stop_with_a_client_still_connected() -> None:
    broker = AmqttBroker().start()
    connected = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_connect = lambda *a: connected.set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        assert connected.wait(WAIT)
        client.subscribe("x/#", 1)
        _stop_within(broker, STOP_BOUND)
    finally:
        client.loop_stop()
        client.disconnect()


def test_stop_with_an_idle_tcp_socket_that_never_sent_connect() -> None:
    broker = AmqttBroker().start()
    with socket.create_connection((broker.host, broker.port)) as idle:
        _stop_within(broker, STOP_BOUND)
        idle.settimeout(WAIT)
        # the broker closed our side: a read sees EOF or a reset, never a hang
        with contextlib.suppress(ConnectionResetError):
            assert idle.recv(1) == b""


def test_stop_under_load_with_publishers_connected() -> None:
    broker = AmqttBroker().start()
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    publisher.connect(broker.host, broker.port)
    publisher.loop_start()
    try:
        for i in range(2000):
            publisher.publish("load/t", str(i).encode(), qos=1)
        _stop_within(broker, STOP_BOUND)
    finally:
        publisher.loop_stop()
        publisher.disconnect()


def test_the_reported_port_is_really_bound() -> None:
    with (
        AmqttBroker() as broker,
        socket.socket() as s,
        pytest.raises(OSError, match="in use"),
    ):
        s.bind((broker.host, broker.port))


def test_start_failure_names_host_port_and_cause() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        broker = AmqttBroker(port=port)
        with pytest.raises(Exception, match=f"127.0.0.1:{port}.*in use"):
            broker.start(timeout=5)
        assert not broker.running
    with broker:  # the failure left nothing behind: the same object starts once the port is free
        assert roundtrip(broker.url) == b"hello"


def test_fast_plugin_configuration_by_default() -> None:
    broker = AmqttBroker()
    assert broker._config()["plugins"] == {
        "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
    }
    with AmqttBroker(username="u", password="p") as secured:
        plugins = secured._amqtt.plugins_manager._plugins
        assert [type(p).__name__ for p in plugins] == ["StaticCredentialsAuthPlugin"]


def test_missing_amqtt_says_how_to_install() -> None:
    code = (
        "import sys\n"
        "sys.modules['amqtt'] = None\n"  # makes `import amqtt...` raise ImportError
        "from mqtt_surge import AmqttBroker, EngineNotInstalledError\n"
        "try:\n"
        "    AmqttBroker().start()\n"
        "except EngineNotInstalledError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert 'pip install "mqtt-surge[amqtt]"' in out
    assert "mosquitto" in out
    assert issubclass(EngineNotInstalledError, ImportError)


def test_the_amqtt_methods_our_broker_overrides_still_exist() -> None:
    """SpecBroker hooks two private amqtt coroutines; a release that renames them must fail
    here, not silently bring back the replay of everyone's retained messages."""
    import inspect

    from amqtt.broker import Broker

    for name in (
        "_authenticate",
        "_handle_disconnect",
        "_handle_message_delivery",
        "_handle_subscription",
        "_publish_retained_messages_for_subscription",
    ):
        assert inspect.iscoroutinefunction(getattr(Broker, name, None)), name
    assert callable(getattr(Broker, "_get_handler", None))


def test_the_embedded_engine_needs_no_amqtt() -> None:
    code = (
        "import sys\n"
        "sys.modules['amqtt'] = None\n"
        "from mqtt_surge import EmbeddedBroker\n"
        "with EmbeddedBroker() as broker:\n"
        "    print(broker.engine, broker.capabilities.missing(5, ['redelivery']))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "embedded []"


def test_amqtt_options_given_to_the_embedded_broker_say_where_they_went() -> None:
    with pytest.raises(ConfigError, match=r"plugins.*AmqttBroker"):
        EmbeddedBroker(plugins={})
