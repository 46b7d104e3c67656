"""The few places where mqtt-surge relies on how paho works inside: fail here first if a paho
release moves them."""

from __future__ import annotations

import inspect
import threading

import paho.mqtt.client as mqtt

from mqtt_surge import parse_broker
from mqtt_surge.brokers import BrokerBase
from mqtt_surge.subscriber.transports import paho as _paho
from mqtt_surge.testing import Publisher

from ._support import WAIT


def _client() -> mqtt.Client:
    return _paho.make_client(
        client_id="t",
        protocol=4,
        clean_session=True,
        manual_ack=False,
        url=parse_broker("localhost"),
        tls=None,
    )


def test_paho_still_has_the_per_message_hook_we_shadow() -> None:
    hook = mqtt.Client._handle_on_message
    assert list(inspect.signature(hook).parameters) == ["self", "message"]
    assert _paho.set_message_handler(_client(), lambda m: None) is True


def test_paho_still_reads_publishes_where_we_take_them_over() -> None:
    client = _client()
    assert list(inspect.signature(mqtt.Client._handle_publish).parameters) == ["self"]
    assert isinstance(client._in_packet, dict)
    assert {"command", "packet"} <= set(client._in_packet)
    assert callable(client._send_puback)
    assert _paho.take_publishes(client, lambda cmd, raw: None) is True


def test_the_fast_path_delivers(embedded: BrokerBase, topic: str) -> None:
    got: list[mqtt.MQTTMessage] = []
    done, subscribed = threading.Event(), threading.Event()
    client = _client()
    client.on_connect = lambda c, *a: c.subscribe(topic, 1)
    client.on_subscribe = lambda *a: subscribed.set()
    _paho.set_message_handler(client, lambda m: (got.append(m), done.set()))
    client.connect(embedded.host, embedded.port)
    client.loop_start()
    try:
        assert subscribed.wait(WAIT)
        with Publisher(embedded.url) as pub:
            pub.publish(topic, b"fast", qos=1)
        assert done.wait(WAIT)
    finally:
        _paho.close(client)
    assert _paho.fields(got[0], False) == (topic, b"fast", 1, False, got[0].mid, None)


def test_without_the_hook_the_public_callback_is_used() -> None:
    class Bare:
        on_message = None

    bare = Bare()
    seen: list[object] = []
    assert _paho.set_message_handler(bare, seen.append) is False  # type: ignore[arg-type]
    assert bare.on_message is not None
    bare.on_message(None, None, "msg")
    assert seen == ["msg"]


def test_close_releases_pahos_wakeup_sockets() -> None:
    client = _client()
    client.loop_start()
    assert client._sockpairR is not None
    _paho.close(client)
    assert client._sockpairR is None


def test_connack_codes_map_to_reasons() -> None:
    url = parse_broker("mqtt://u:secret@h")
    assert _paho.connect_error(134, url).reason == "bad_credentials"
    assert _paho.connect_error(5, url).reason == "not_authorized"
    assert _paho.connect_error(3, url).reason == "refused"
    assert "secret" not in str(_paho.connect_error(134, url))


def test_paho_still_has_the_pingresp_handler_the_watchdog_hooks(embedded: BrokerBase) -> None:
    """The keepalive watchdog learns of PINGRESPs by shadowing this method: a quiet, healthy
    link must show packets, or it would be dropped."""
    client = _client()
    pongs = threading.Event()
    assert _paho.on_pingresp(client, pongs.set) is True
    client.connect(embedded.host, embedded.port, keepalive=1)
    client.loop_start()
    try:
        assert pongs.wait(WAIT), "no PINGRESP seen on an idle link with keepalive 1"
    finally:
        _paho.close(client)
