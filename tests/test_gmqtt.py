"""The one place where mqtt-surge reads gmqtt's internals (the keepalive watchdog's view of the
link): fail here first if a gmqtt release moves it."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from gmqtt.mqtt.constants import MQTTv50

from mqtt_surge import Subscriber, parse_broker
from mqtt_surge.brokers import BrokerBase
from mqtt_surge.subscriber.transports._base import Events, Item, Settings
from mqtt_surge.subscriber.transports._gmqtt_hooks import (
    _ClientLog,
    _live_connection,
    gmqtt_logger,
)
from mqtt_surge.subscriber.transports.gmqtt import GmqttTransport
from mqtt_surge.testing import Publisher, Recorder

from ._support import wait_until


def test_the_live_connection_has_the_attributes_the_watchdog_reads(
    mosquitto: BrokerBase, topic: str
) -> None:
    sub = Subscriber(mosquitto.url, topic, print, engine="gmqtt", keepalive=1).start()
    try:
        transport = sub._part._transport
        assert isinstance(transport, GmqttTransport)
        connection = _live_connection(transport._client)
        assert isinstance(connection._last_data_in, float)
        assert callable(connection._transport.abort)
        # an idle link stays well inside the limit: gmqtt's own pings come back in time
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            silent = transport.silent_for()
            assert silent is not None
            assert silent < transport.silence_limit
            time.sleep(0.1)  # pace: sampling the silence over three keepalives
        assert sub.stats().reconnects == 0
        transport.drop()  # what the watchdog does: the engine reconnects on its own
        wait_until(lambda: sub.stats().reconnects == 1, what="reconnected after drop()")
    finally:
        sub.stop()


def test_gmqtts_debug_lines_pass_through_only_when_debug_is_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = _ClientLog(on_refused=lambda code: None)
    with caplog.at_level(logging.WARNING, logger=gmqtt_logger.name):
        log.debug("[MqttPackageHandler] RECV %s", "t")
    assert not [r for r in caplog.records if "RECV" in r.getMessage()]
    with caplog.at_level(logging.DEBUG, logger=gmqtt_logger.name):
        log.debug("[MqttPackageHandler] RECV %s", "t")
    assert [r.getMessage() for r in caplog.records] == ["[MqttPackageHandler] RECV t"]


def test_reading_publishes_ourselves_keeps_what_gmqtts_handler_keeps(
    mosquitto: BrokerBase, topic: str
) -> None:
    """_take_publishes stands in for gmqtt's packet handler for QoS 0 and 1 PUBLISH packets
    (tests/subscriber/test_delivery.py checks the messages are the same as gmqtt's path gives);
    the time of the last packet that gmqtt's handler records is recorded too."""
    recorder = Recorder()
    sub = Subscriber(mosquitto.url, topic, recorder, engine="gmqtt", qos=1).start()
    try:
        handler = sub._part._transport._client._package_handler  # type: ignore[union-attr]
        assert callable(handler._send_puback)
        assert callable(handler._parse_properties)
        before = handler._last_msg_in
        with Publisher(mosquitto.url) as pub:
            pub.publish(topic, b"x", qos=1)
        (message,) = recorder.wait_for(1)
        assert message.mid > 0  # read by our path: gmqtt's hides the packet id
        assert handler._last_msg_in > before
    finally:
        sub.stop()


def test_what_our_publish_path_declines_gmqtts_own_path_reads() -> None:
    """PUBLISH packets fed to a gmqtt client's handler (as its read loop does), MQTT 5: a topic
    alias set and then used (gmqtt keeps the alias table), and a topic that is not UTF-8, go
    through gmqtt's path and still arrive; a plain one goes through ours (with its packet id)."""
    items: list[Item] = []
    events = Events(
        enqueue=items.append,
        connected=lambda: None,
        refused=lambda error: None,
        unreachable=lambda error: None,
        subscribed=lambda rejected: None,
        disconnected=lambda why: None,
    )
    settings = Settings(
        url=parse_broker("localhost"),
        client_id="t",
        topics=[("#", 1)],
        protocol=5,
        clean_session=None,
        session_expiry=None,
        keepalive=60,
        manual_ack=True,
        tls=None,
    )

    async def feed() -> None:
        # on a running loop: with acks after processing, gmqtt runs our callback as a task
        client = GmqttTransport(settings, events)._new_client(first=True)
        client._connection_state.protocol_version = MQTTv50  # as after a version 5 CONNECT
        handler = client._package_handler
        alias_3 = bytes([3, 0x23, 0, 3])  # properties: 3 bytes, Topic Alias (0x23) = 3
        handler._handle_packet(0x30, b"\x00\x03a/b" + alias_3 + b"set")
        handler._handle_packet(0x30, b"\x00\x00" + alias_3 + b"used")
        handler._handle_packet(0x30, b"\x00\x02\xff\xfe" + b"\x00" + b"bad topic")
        handler._handle_packet(0x32, b"\x00\x03a/c" + b"\x01\x02" + b"\x00" + b"ours")
        await asyncio.sleep(0)  # a yield: the tasks gmqtt made run now

    asyncio.run(feed())
    assert sorted((i.topic, i.payload, i.mid) for i in items) == [
        ("a/b", b"set", 0),
        ("a/b", b"used", 0),
        ("a/c", b"ours", 0x0102),
        ("\ufffd\ufffd", b"bad topic", 0),
    ]
    by_payload = {i.payload: i for i in items}
    assert by_payload[b"set"].properties == {"topic_alias": [3]}
    assert by_payload[b"ours"].ack_token == 0x0102  # acked after processing, by packet id
