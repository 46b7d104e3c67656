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


@pytest.fixture(params=["mosquitto", "embedded"])
def any_broker(request: pytest.FixtureRequest) -> BrokerBase:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.mark.parametrize("protocol", [4, 5])
def test_its_own_publish_path_gives_what_gmqtts_path_gives(
    any_broker: BrokerBase, topic: str, protocol: int
) -> None:
    """QoS 0 and 1 PUBLISH packets are read by the engine itself (_take_publishes), QoS 2 still
    by gmqtt: the same message must come out of both the same, but for the packet id."""
    props = {"user_properties": [("k", "v")], "content_type": "text/x"} if protocol == 5 else None
    recorder = Recorder()
    with Publisher(any_broker.url, protocol=protocol) as pub:
        for qos in (1, 2):  # retained before anyone subscribes: they come with RETAIN set
            pub.publish(f"{topic}/r{qos}", b"kept", qos=qos, retain=True, properties=props)
        sub = Subscriber(
            any_broker.url, f"{topic}/#", recorder, engine="gmqtt", qos=2, protocol=protocol
        ).start()
        try:
            handler = sub._transport._client._package_handler  # type: ignore[union-attr]
            before = handler._last_msg_in
            for qos in (0, 1, 2):
                pub.publish(f"{topic}/q{qos}", b"\x00\xffsame", qos=qos, properties=props)
            got = {m.topic.rsplit("/", 1)[1]: m for m in recorder.wait_for(5)}
            assert handler._last_msg_in > before  # what gmqtt's own handler keeps, kept
        finally:
            sub.stop()
        for pub_id in ("r1", "r2"):  # leave no retained message behind
            pub.publish(f"{topic}/{pub_id}", b"", qos=1, retain=True)
    assert [got[f"q{qos}"].qos for qos in (0, 1, 2)] == [0, 1, 2]
    assert got["q0"].mid == 0  # QoS 0 has no packet id
    assert got["q1"].mid > 0  # our path keeps it
    assert got["q2"].mid == 0  # gmqtt's path does not hand it out
    for a, b in (("q0", "q2"), ("q1", "q2"), ("r1", "r2")):
        assert (got[a].payload, got[a].retain, got[a].properties) == (
            got[b].payload,
            got[b].retain,
            got[b].properties,
        ), (a, b)
    assert got["r1"].retain is True
    assert got["q1"].retain is False
    if protocol == 5:
        assert got["q1"].properties["user_property"] == [("k", "v")]
        assert got["q1"].properties["content_type"] == ["text/x"]
    else:
        assert got["q1"].properties is None
