"""Per-topic ordering lanes, callback exceptions, and bad input refused at construction."""

from __future__ import annotations

import logging
import random
import ssl
import sys
import time

import pytest

from mqtt_surge import (
    AmqttBroker,
    ConfigError,
    ConnectError,
    EngineNotInstalledError,
    Message,
    MosquittoBroker,
    SubscribeError,
    Subscriber,
)
from mqtt_surge.brokers import BrokerBase
from mqtt_surge.testing import Publisher, Recorder, unpack_header

from .._support import wait_until


def test_ordered_topic_keeps_each_topics_order(mosquitto: BrokerBase, topic: str) -> None:
    rng = random.Random(7)

    def jittery(message: Message) -> None:
        time.sleep(rng.random() / 2000)  # simulated uneven work, so that unordered would reorder

    recorder = Recorder(jittery)
    topics = [f"{topic}/{i}" for i in range(6)]
    with (
        Subscriber(
            broker=mosquitto.url,
            topic=f"{topic}/+",
            callback=recorder,
            worker_threads=4,
            ordered="topic",
        ) as sub,
        Publisher(mosquitto.url) as pub,
    ):
        for _ in range(20):
            for t in topics:
                pub.burst(t, 1, qos=0)
        recorder.wait_for(120, timeout=20)
    by_topic: dict[str, list[int]] = {}
    for message in recorder.messages:
        header = unpack_header(message.payload)
        assert header is not None
        by_topic.setdefault(message.topic, []).append(header.sequence)
    assert len(by_topic) == 6
    for sequences in by_topic.values():
        assert sequences == sorted(sequences)
    assert sub.stats().processed == 120


def test_callback_exceptions_are_counted_logged_and_reported(
    embedded: BrokerBase, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    errors: list[tuple[BaseException, Message]] = []

    def handle(message: Message) -> None:
        if message.payload == b"bad":
            raise RuntimeError("cannot handle bad")

    recorder = Recorder(handle)
    with (
        caplog.at_level(logging.ERROR, logger="mqtt_surge"),
        Subscriber(
            broker=embedded.url,
            topic=topic,
            callback=recorder,
            worker_threads=1,
            on_error=lambda exc, msg: errors.append((exc, msg)),
        ) as sub,
        Publisher(embedded.url) as pub,
    ):
        pub.publish(topic, b"bad", qos=1)
        pub.publish(topic, b"good", qos=1)  # the same (only) worker lives on
        recorder.wait_for(2)
        wait_until(lambda: sub.stats().processed == 1 and sub.stats().failed == 1)
    ((exc, msg),) = errors
    assert isinstance(exc, RuntimeError)
    assert msg.payload == b"bad"
    record = next(r for r in caplog.records if "callback failed" in r.getMessage())
    assert record.exc_info is not None
    assert "cannot handle bad" in caplog.text


def test_a_callback_raising_system_exit_is_a_failure_and_the_worker_lives(
    embedded: BrokerBase, topic: str
) -> None:
    """A BaseException from a callback (SystemExit here) is counted as that message's failure;
    the only worker goes on, and a stop drains and ends with exact counts."""
    errors: list[BaseException] = []
    done: list[bytes] = []

    def handle(message: Message) -> None:
        if message.payload == b"exit":
            raise SystemExit(3)
        done.append(message.payload)

    sub = Subscriber(
        broker=embedded.url,
        topic=topic,
        callback=handle,
        qos=1,
        worker_threads=1,
        on_error=lambda exc, _msg: errors.append(exc),
    ).start()
    with Publisher(embedded.url) as pub:
        for payload in (b"a", b"exit", b"b", b"c"):
            pub.publish(topic, payload, qos=1)
        wait_until(lambda: sub.stats().received == 4, what="all four received")
        wait_until(lambda: sub.stats().processed == 3, what="the worker went on after SystemExit")
    final = sub.stop(timeout=10)
    assert done == [b"a", b"b", b"c"]
    assert [type(e) for e in errors] == [SystemExit]
    assert (final.processed, final.failed, final.queued, final.in_flight) == (3, 1, 0, 0)
    assert final.accounted


def test_a_raising_on_error_hook_does_not_kill_the_worker(embedded: BrokerBase, topic: str) -> None:
    def hook(exc: BaseException, msg: Message) -> None:
        raise ValueError("hook broke")

    recorder = Recorder(lambda m: 1 / 0 if m.payload == b"0" else None)
    with (
        Subscriber(
            broker=embedded.url, topic=topic, callback=recorder, worker_threads=1, on_error=hook
        ) as sub,
        Publisher(embedded.url) as pub,
    ):
        pub.publish(topic, b"0", qos=1)
        pub.publish(topic, b"1", qos=1)
        recorder.wait_for(2)
        wait_until(lambda: sub.stats().processed == 1)
    assert sub.stats().failed == 1


@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        ({"topic": "a/#/b"}, ConfigError, "a/#/b"),
        ({"topic": "a+"}, ConfigError, "a+"),
        ({"topic": ""}, ConfigError, "empty"),
        ({"topic": []}, ConfigError, "empty list"),
        ({"topic": ("a", 3)}, ConfigError, "QoS of 'a'"),
        ({"broker": "mqtt://h:0"}, ConfigError, "out of range"),
        ({"broker": "http://h"}, ConfigError, "http"),
        ({"broker": 1883}, ConfigError, "broker must be"),
        ({"max_queue_size": 0}, ConfigError, "max_queue_size"),
        ({"worker_threads": 0}, ConfigError, "worker_threads"),
        ({"max_concurrency": 0}, ConfigError, "max_concurrency"),
        ({"overflow": "drop_random"}, ConfigError, "drop_random"),
        ({"ack": "never"}, ConfigError, "never"),
        ({"ack": "after_processing"}, ConfigError, "qos >= 1"),
        ({"qos": 3}, ConfigError, "qos"),
        ({"ordered": "yes"}, ConfigError, "ordered"),
        ({"protocol": 6}, ConfigError, "protocol"),
        ({"protocol": 5, "clean_session": False}, ConfigError, "clean_session"),
        ({"session_expiry": 60}, ConfigError, "protocol=5"),
        ({"clean_session": False}, ConfigError, "client_id"),
        ({"keepalive": -1}, ConfigError, "keepalive"),
        ({"tls": "yes"}, ConfigError, "tls"),
        ({"callback": "print"}, TypeError, "callable"),
        ({"callback": None}, TypeError, "callback="),
        ({"callbacks": {"a/+": 1}}, TypeError, "not callable"),
        ({"on_error": 5}, TypeError, "on_error"),
    ],
)
def test_bad_input_is_refused_at_construction(
    kwargs: dict[str, object], error: type[Exception], needle: str
) -> None:
    options: dict[str, object] = {"broker": "localhost", "topic": "t", "callback": print}
    options.update(kwargs)
    with pytest.raises(error) as info:
        Subscriber(**options)  # type: ignore[arg-type]
    assert needle in str(info.value)


def test_tls_context_is_accepted() -> None:
    sub = Subscriber(broker="mqtts://example.com", topic="t", callback=print)
    assert sub.url.tls
    Subscriber(broker="example.com", topic="t", callback=print, tls=ssl.create_default_context())


def test_unreachable_broker_raises_connect_error_within_the_timeout(topic: str) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sub = Subscriber(broker=f"127.0.0.1:{port}", topic=topic, callback=print)
    started = time.monotonic()
    with pytest.raises(ConnectError) as info:
        sub.start(timeout=2)
    assert time.monotonic() - started < 30
    assert info.value.reason == "unreachable"
    assert f"127.0.0.1:{port}" in str(info.value)
    assert not sub.running


def test_bad_credentials_raise_connect_error(topic: str) -> None:
    with MosquittoBroker(username="u", password="right") as secured:
        sub = Subscriber(
            broker=f"mqtt://u:wrong@{secured.host}:{secured.port}", topic=topic, callback=print
        )
        with pytest.raises(ConnectError) as info:
            sub.start(timeout=10)
    assert info.value.reason in {"bad_credentials", "not_authorized"}
    assert "wrong" not in str(info.value)
    assert not sub.running


def test_rejected_filter_raises_subscribe_error(topic: str) -> None:
    # amqtt's taboo plugin answers a SUBACK failure for the topic "prohibited"
    plugins = {
        "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
        "amqtt.plugins.topic_checking.TopicTabooPlugin": {},
    }
    with AmqttBroker(plugins=plugins) as restricted:
        with Subscriber(broker=restricted.url, topic=topic, callback=print) as allowed:
            assert allowed.running
        sub = Subscriber(broker=restricted.url, topic=[topic, "prohibited"], callback=print)
        with pytest.raises(SubscribeError, match="prohibited") as info:
            sub.start(timeout=10)
    assert topic not in str(info.value)  # only the rejected filter is named
    assert not sub.running


def test_engine_is_checked_at_the_boundary(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="engine must be one of paho, gmqtt; got 'asyncio'"):
        Subscriber(broker="localhost", topic="t", callback=print, engine="asyncio")  # type: ignore[arg-type]
    monkeypatch.setenv("MQTT_SURGE_ENGINE", "fast")
    with pytest.raises(ConfigError, match=r"\$MQTT_SURGE_ENGINE must be one of"):
        Subscriber(broker="localhost", topic="t", callback=print)
    # an explicit argument wins over the environment
    assert Subscriber(broker="localhost", topic="t", callback=print, engine="paho").engine == "paho"


def test_a_missing_gmqtt_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gmqtt", None)  # how Python marks a module as unimportable
    with pytest.raises(EngineNotInstalledError, match=r"mqtt-surge\[fast\]"):
        Subscriber(broker="localhost", topic="t", callback=print, engine="gmqtt")
