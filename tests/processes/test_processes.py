"""Subscriber(processes=N): child processes sharing one subscription ($share), against real
brokers (mosquitto, and the embedded broker, which has shared subscriptions too)."""

from __future__ import annotations

import os
import signal

import pytest

from mqtt_surge import AmqttBroker, ConfigError, Message, Subscriber
from mqtt_surge.brokers import BrokerBase
from mqtt_surge.testing import Publisher

from .._support import WAIT, wait_until

pytestmark = pytest.mark.slow


def record_pid(message: Message) -> None:
    """A module-level callback (importable by name in each child): the work is a little CPU."""
    sum(range(2000))


@pytest.fixture(params=["mosquitto", "embedded"])
def shared_broker(request: pytest.FixtureRequest) -> BrokerBase:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


def test_two_processes_share_the_work_and_count_as_one(
    shared_broker: BrokerBase, topic: str
) -> None:
    sub = Subscriber(
        shared_broker.url, f"{topic}/#", record_pid, qos=1, processes=2, worker_threads=2
    ).start()
    try:
        with Publisher(shared_broker.url) as pub:
            pub.burst(f"{topic}/x", 400, qos=1)
        wait_until(lambda: sub.stats().processed == 400, timeout=WAIT * 3, what="all 400 processed")
        each = sub.process_stats()
        assert len(each) == 2
        assert all(s.processed > 0 for s in each), each  # the broker spread them
        assert sum(s.processed for s in each) == 400
    finally:
        final = sub.stop()
    assert (final.received, final.processed) == (400, 400)
    assert final.accounted


def test_a_child_that_dies_is_restarted_and_counted(mosquitto: BrokerBase, topic: str) -> None:
    sub = Subscriber(mosquitto.url, f"{topic}/#", record_pid, qos=1, processes=2).start()
    try:
        victim = sub.pids[0]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: sub.restarts == 1, timeout=WAIT * 3, what="the child restarted")
        with Publisher(mosquitto.url) as pub:
            pub.burst(f"{topic}/x", 100, qos=1)
        wait_until(lambda: sub.stats().processed == 100, timeout=WAIT * 3, what="all processed")
        assert victim not in sub.pids
    finally:
        final = sub.stop()
    assert final.processed == 100
    assert final.accounted


def test_processes_need_a_callback_they_can_import() -> None:
    with pytest.raises(ConfigError, match="importable by name"):
        Subscriber("localhost", "t/#", lambda m: None, processes=2)


def test_a_broker_without_shared_subscriptions_is_refused_at_once() -> None:
    with pytest.raises(ConfigError, match="shared_subscriptions"):
        Subscriber(AmqttBroker(), "t/#", record_pid, processes=2)


def test_a_bad_group_name_is_refused() -> None:
    with pytest.raises(ConfigError, match="shared_group"):
        Subscriber("localhost", "t/#", record_pid, processes=2, shared_group="a/b")
