"""The one place where mqtt-surge reads gmqtt's internals (the keepalive watchdog's view of the
link): fail here first if a gmqtt release moves it."""

from __future__ import annotations

import logging
import time

import pytest

from mqtt_surge import Subscriber
from mqtt_surge.brokers import BrokerBase
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
