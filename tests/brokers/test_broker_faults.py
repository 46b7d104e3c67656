"""Broker faults on every local engine: kill() drops every client at once and start() brings the
broker back on its port; restart(); pause()/resume() on mosquitto."""

from __future__ import annotations

import pytest

from mqtt_surge import Subscriber, broker_from_spec
from mqtt_surge.testing import Publisher, Recorder

from .._support import WAIT, roundtrip, wait_until

ENGINES = ["embedded", "amqtt", "mosquitto"]


@pytest.mark.parametrize("engine", ENGINES)
def test_kill_drops_clients_and_start_brings_the_broker_back(engine: str, topic: str) -> None:
    broker = broker_from_spec(engine).start()
    seen = Recorder()
    sub = Subscriber(broker.url, topic, seen, qos=1).start()
    try:
        port = broker.port
        broker.kill()
        assert not broker.running
        wait_until(lambda: not sub.is_connected, what="the subscriber saw it go")
        broker.start()
        assert broker.port == port
        wait_until(lambda: sub.stats().reconnects == 1, what="the subscriber came back")
        with Publisher(broker.url) as pub:
            pub.publish(topic, b"after", qos=1)
            assert [m.payload for m in seen.wait_for(1, timeout=WAIT)] == [b"after"]
    finally:
        sub.stop()
        broker.stop()


@pytest.mark.parametrize("engine", ENGINES)
def test_restart_keeps_the_address(engine: str) -> None:
    broker = broker_from_spec(engine).start()
    try:
        port = broker.port
        broker.restart()
        assert broker.running
        assert broker.port == port
        assert roundtrip(broker.url) == b"hello"
    finally:
        broker.stop()


def test_pause_makes_a_silent_link_and_resume_ends_it(topic: str) -> None:
    broker = broker_from_spec("mosquitto").start()
    seen = Recorder()
    sub = Subscriber(broker.url, topic, seen, qos=1, keepalive=2, engine="gmqtt").start()
    try:
        broker.pause()
        # nothing is closed: only the subscriber's keepalive watchdog notices (1.5 x 2 s)
        wait_until(lambda: not sub.is_connected, timeout=15, what="noticed")
        broker.resume()
        wait_until(lambda: sub.stats().reconnects == 1, timeout=15, what="back after resume")
        with Publisher(broker.url) as pub:
            pub.publish(topic, b"resumed", qos=1)
            assert [m.payload for m in seen.wait_for(1, timeout=WAIT)] == [b"resumed"]
    finally:
        sub.stop()
        broker.stop()


@pytest.mark.parametrize("engine", ["embedded", "amqtt"])
def test_pause_on_an_in_process_engine_says_what_to_use(engine: str) -> None:
    broker = broker_from_spec(engine)
    with pytest.raises(NotImplementedError, match="mosquitto"):
        broker.pause()
