"""Faults mid-stream against a persistent QoS 1 subscriber that acks after processing.

Set-up, for each fault and each engine: a mosquitto of the test's own; the subscriber reaches it
through a :class:`FaultProxy` (``qos=1, ack="after_processing", clean_session=False``, a fixed
client id, keepalive 4 s, a buffer of 200); a publisher sends sequence-numbered QoS 1 messages
straight to mosquitto at 200 msg/s. "Lost" is a message that mosquitto acknowledged to the
publisher and the callback never got; duplicates are allowed (QoS 1) and counted.

What is promised: nothing lost; a silent link (a black hole, a broker stopped with SIGSTOP) noticed
within 1.5x the keepalive (MQTT's rule for the server, 3.1.1 [MQTT-3.1.2-24]); the subscription
back soon after the link heals. Time bounds here are generous (CI machines are shared); the
measured figures go to benchmarks/results/reliability.json and the README.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mqtt_surge import Message, MosquittoBroker, Subscriber
from mqtt_surge.faults import FaultProxy
from mqtt_surge.testing import Publisher, unpack_header

from .._support import wait_until

KEEPALIVE = 4
RATE = 200.0
SILENCE = 1.5 * KEEPALIVE + 3  # how long a silent fault lasts: past detection, with tries made
DETECT_BOUND = 2 * KEEPALIVE  # what the engines did before the watchdog: must be beaten
RESUME_BOUND = 10.0
QUEUE = 200


class Disconnects(logging.Handler):
    """When the subscriber noticed each lost connection (its 'disconnected from' warning)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.times: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "disconnected from" in record.getMessage():
            self.times.append(time.monotonic())

    def first_after(self, t: float) -> float | None:
        return next((x for x in self.times if x >= t), None)


@pytest.fixture
def disconnects() -> Iterator[Disconnects]:
    handler = Disconnects()
    log = logging.getLogger("mqtt_surge")
    log.addHandler(handler)
    try:
        yield handler
    finally:
        log.removeHandler(handler)


class Stream:
    """Publishes sequence-numbered QoS 1 messages at RATE from a thread until stopped."""

    def __init__(self, publisher: Publisher, topic: str) -> None:
        self.sent: list[int] = []
        self._publisher, self._topic = publisher, topic
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="reliability-publisher")

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                # each burst returns once mosquitto acked all of it: only then is it "sent"
                self.sent += self._publisher.burst(self._topic, 20, qos=1, rate=RATE, timeout=60)
        except BaseException as exc:  # re-raised in the test by stop()
            self._error = exc

    def __enter__(self) -> Stream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        if self._error is not None:
            raise self._error

    def __exit__(self, *exc: object) -> None:
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join()


def _run_fault(
    engine: str,
    fault: str,
    figures: dict[str, dict[str, Any]],
    disconnects: Disconnects,
    inject: Callable[[MosquittoBroker, FaultProxy], Callable[[], None] | None],
) -> dict[str, Any]:
    """Stream, inject the fault (``inject`` returns how to heal it, or None), heal after
    SILENCE, stream on; then check that every sent message arrived."""
    got: list[int] = []
    lock = threading.Lock()

    def record(message: Message) -> None:
        header = unpack_header(message.payload)
        assert header is not None
        with lock:
            got.append(header.sequence)

    topic = f"reliability/{fault}"
    with MosquittoBroker() as broker, FaultProxy(broker) as proxy, Publisher(broker.url) as pub:
        sub = Subscriber(
            proxy.url,
            f"{topic}/#",
            record,
            qos=1,
            ack="after_processing",
            clean_session=False,
            client_id=f"reliability-{engine}-{fault}",
            keepalive=KEEPALIVE,
            # smaller than the backlog a silent fault leaves: overflow must not lose any of it
            max_queue_size=QUEUE,
        ).start()
        try:
            with Stream(pub, f"{topic}/x") as stream:
                wait_until(lambda: len(got) >= 200, what="the stream flowing")
                faulted = time.monotonic()
                heal = inject(broker, proxy)
                connects = sub.stats().reconnects
                if heal is not None:
                    # the silence, waited out on purpose
                    time.sleep(SILENCE)  # pace: the fault lasts this long
                    healed = time.monotonic()
                    heal()
                else:
                    healed = faulted
                wait_until(
                    lambda: sub.stats().reconnects > connects,
                    timeout=30,
                    what="the subscriber reconnected",
                )
                resumed = time.monotonic() - healed
                before = len(got)
                wait_until(lambda: len(got) >= before + 200, timeout=30, what="flowing again")
                stream.stop()
            with contextlib.suppress(AssertionError):  # what is missing is reported below
                wait_until(lambda: set(stream.sent) <= set(got), timeout=30)
        finally:
            stats = sub.stop()
    noticed = disconnects.first_after(faulted)
    row = {
        "engine": engine,
        "fault": fault,
        "keepalive_s": KEEPALIVE,
        "detect_s": None if noticed is None else round(noticed - faulted, 2),
        "resume_after_heal_s": round(resumed, 2),
        "sent": len(stream.sent),
        "lost": len(set(stream.sent) - set(got)),
        "duplicates": len(got) - len(set(got)),
        "dropped": stats.dropped,
        "max_queue_depth": stats.max_queue_depth,
    }
    figures[f"{fault}/{engine}"] = row
    assert row["lost"] == 0, row
    assert stats.accounted, stats
    return row


def test_black_holed_link(
    engine: str, figures: dict[str, dict[str, Any]], disconnects: Disconnects
) -> None:
    def blackhole(_broker: MosquittoBroker, proxy: FaultProxy) -> Callable[[], None]:
        proxy.blackhole()
        return proxy.heal

    row = _run_fault(engine, "blackhole", figures, disconnects, blackhole)
    assert row["detect_s"] is not None
    assert row["detect_s"] < DETECT_BOUND, row
    assert row["resume_after_heal_s"] < RESUME_BOUND, row


def test_broker_stopped_then_continued(
    engine: str, figures: dict[str, dict[str, Any]], disconnects: Disconnects
) -> None:
    def sigstop(broker: MosquittoBroker, _proxy: FaultProxy) -> Callable[[], None]:
        assert broker.pid is not None
        pid = broker.pid
        os.kill(pid, signal.SIGSTOP)
        return lambda: os.kill(pid, signal.SIGCONT)

    row = _run_fault(engine, "sigstop", figures, disconnects, sigstop)
    assert row["detect_s"] is not None
    assert row["detect_s"] < DETECT_BOUND, row
    assert row["resume_after_heal_s"] < RESUME_BOUND, row


@pytest.mark.parametrize("reset", [True, False], ids=["rst", "fin"])
def test_connection_cut(
    engine: str, reset: bool, figures: dict[str, dict[str, Any]], disconnects: Disconnects
) -> None:
    def cut(_broker: MosquittoBroker, proxy: FaultProxy) -> None:
        proxy.cut(reset=reset)

    row = _run_fault(engine, "cut-rst" if reset else "cut-fin", figures, disconnects, cut)
    assert row["detect_s"] is not None
    assert row["detect_s"] < KEEPALIVE, row  # a reset or FIN is seen at once, not by keepalive
