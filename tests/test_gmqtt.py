"""The one place where mqtt-surge reads gmqtt's internals (the keepalive watchdog's view of the
link): fail here first if a gmqtt release moves it."""

from __future__ import annotations

import logging
import time

import pytest

from mqtt_surge import Subscriber
from mqtt_surge.brokers import BrokerBase
from mqtt_surge.testing import Publisher, Recorder
from mqtt_surge.transports.gmqtt import GmqttTransport, _ClientLog, _live_connection, gmqtt_logger

from ._support import wait_until


def test_the_live_connection_has_the_attributes_the_watchdog_reads(
    mosquitto: BrokerBase, topic: str
) -> None:
    sub = Subscriber(mosquitto.url, topic, print, engine="gmqtt", keepalive=1).start()
    try:
        transport = sub._transport
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
        handler = sub._transport._client._package_handler  # type: ignore[union-attr]
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
