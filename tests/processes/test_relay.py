"""What child processes processed, seen in the parent: RecordingSubscriber(processes=N) (the
pytest plugin's mqtt_subscriber) and the load suite's probe, against real brokers."""

from __future__ import annotations

import os
import signal

import pytest

from mqtt_surge import Message
from mqtt_surge.brokers import BrokerBase
from mqtt_surge.testing import Publisher, RecordingSubscriber

from .._support import WAIT, wait_until

pytestmark = pytest.mark.slow


class Unloadable(Exception):
    """Pickles, but cannot be built again from its args: the parent could not load it."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code}: {text}")


def check_payload(message: Message) -> None:
    if message.payload == b"bad":
        raise ValueError("bad payload")
    if message.payload == b"odd":
        raise Unloadable(7, "odd payload")


async def check_payload_async(message: Message) -> None:
    check_payload(message)


@pytest.fixture(params=["mosquitto", "embedded"])
def shared_broker(request: pytest.FixtureRequest) -> BrokerBase:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.mark.parametrize("callback", [check_payload, check_payload_async, None])
def test_the_recorder_sees_every_message_the_children_processed(
    shared_broker: BrokerBase, topic: str, callback: object
) -> None:
    sub = RecordingSubscriber(shared_broker.url, f"{topic}/#", callback, qos=1, processes=2)
    sub.start()
    try:
        with Publisher(shared_broker.url) as pub:
            pub.burst(f"{topic}/x", 300, qos=1)
            pub.publish(f"{topic}/y", b"bad", qos=1)
            pub.publish(f"{topic}/y", b"odd", qos=1)
        sub.wait_for(302, timeout=WAIT * 2)
        each = sub.process_stats()
        assert all(s.received > 0 for s in each), each  # both children took a share
    finally:
        final = sub.stop()
    assert len(sub.messages) == 302 == final.received
    assert sorted(m.payload for m in sub.messages if m.topic.endswith("/y")) == [b"bad", b"odd"]
    if callback is None:
        assert sub.errors == []
        assert final.failed == 0
        return
    assert final.failed == 2
    errors = sorted(sub.errors, key=str)
    assert isinstance(errors[0], RuntimeError)  # Unloadable, described: it cannot be rebuilt
    assert "Unloadable: 7: odd payload" in str(errors[0])
    assert isinstance(errors[1], ValueError)
    assert str(errors[1]) == "bad payload"
    # the child's traceback travels as a note, down to the line that raised
    assert "raised in subscriber process" in errors[1].__notes__[0]
    assert 'raise ValueError("bad payload")' in errors[1].__notes__[0]


def test_a_killed_child_does_not_stop_the_recording(mosquitto: BrokerBase, topic: str) -> None:
    sub = RecordingSubscriber(mosquitto.url, f"{topic}/#", check_payload, qos=1, processes=2)
    sub.start()
    try:
        with Publisher(mosquitto.url) as pub:
            pub.burst(f"{topic}/x", 50, qos=1)
            sub.wait_for(50, timeout=WAIT)
            victim = sub.pids[0]
            os.kill(victim, signal.SIGKILL)
            wait_until(lambda: sub.restarts == 1, timeout=WAIT * 3, what="the child restarted")
            pub.burst(f"{topic}/z", 100, qos=1)
        sub.wait_until(lambda ms: sum(m.topic.endswith("/z") for m in ms) == 100, WAIT * 2)
    finally:
        final = sub.stop()
    assert final.accounted
    assert len(sub.messages) == 150
