"""Faults mid-stream, each against three subscribers at once: QoS 0, QoS 1 (acked on receipt,
clean session), and QoS 1 acked after processing with a persistent session.

Set-up, for each fault and each engine: a mosquitto of the test's own; each subscriber reaches it
through a :class:`FaultProxy` of its own (keepalive 4 s, a buffer of 200; the persistent one with
a fixed client id), and the fault hits all three links at once; a publisher sends
sequence-numbered QoS 1 messages straight to mosquitto at 200 msg/s. "Lost" is a message that
mosquitto acknowledged to the publisher and the callback never got; duplicates are counted.

What is promised: with QoS 1, ack after processing and a persistent session, nothing lost; the
other two modes lose what the fault costs them (measured, not promised: a clean session has no
queue at the broker while it is away, and QoS 0 is never resent). For all: a silent link (a black
hole, a broker stopped with SIGSTOP) noticed within 1.5x the keepalive (MQTT's rule for the
server, 3.1.1 [MQTT-3.1.2-24]); the subscription back soon after the link heals. Time bounds here
are generous (CI machines are shared); the measured figures go to
benchmarks/results/reliability.json and the README.
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

# 4 s in CI; MQTT_SURGE_RELIABILITY_KEEPALIVE=8 re-measures at another (its rows are keyed
# fault@8), as `python benchmarks/reliability_table.py --run --keepalive 8` does
KEEPALIVE = int(os.environ.get("MQTT_SURGE_RELIABILITY_KEEPALIVE", "4"))
RATE = 200.0
SILENCE = 1.5 * KEEPALIVE + 3  # how long a silent fault lasts: past detection, with tries made
DETECT_BOUND = 2 * KEEPALIVE  # what the engines did before the watchdog: must be beaten
RESUME_BOUND = 10.0
QUEUE = 200


class Disconnects(logging.Handler):
    """When the subscriber noticed each lost connection (its 'disconnected from' warning)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.times: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if "disconnected from" in text:
            self.times.append((time.monotonic(), text))

    def first_after(self, t: float, url: str) -> float | None:
        """When the subscriber of ``url`` first noticed a lost connection at or after ``t``."""
        return next((x for x, text in self.times if x >= t and f" {url} " in text), None)


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


# how each subscriber in a run is set up: the three rows of the table for every fault
MODES: dict[str, dict[str, Any]] = {
    "qos0": {"qos": 0},
    "qos1": {"qos": 1},
    "qos1-ack-persistent": {"qos": 1, "ack": "after_processing", "clean_session": False},
}
PROMISED = "qos1-ack-persistent"  # the mode that promises nothing lost


class Receiver:
    """One subscriber of a run (one mode), through a proxy of its own, and what it got."""

    def __init__(self, mode: str, proxy: FaultProxy, topic: str, engine: str, fault: str) -> None:
        self.mode, self.proxy = mode, proxy
        self.got: list[int] = []
        self._lock = threading.Lock()
        options = dict(MODES[mode])
        if options.get("clean_session") is False:
            options["client_id"] = f"reliability-{engine}-{fault}-{mode}"
        self.sub = Subscriber(
            proxy.url,
            f"{topic}/#",
            self._record,
            keepalive=KEEPALIVE,
            # smaller than the backlog a silent fault leaves: overflow must not lose any of it
            max_queue_size=QUEUE,
            **options,
        )

    def _record(self, message: Message) -> None:
        header = unpack_header(message.payload)
        assert header is not None
        with self._lock:
            self.got.append(header.sequence)

    def settled(self, sent: list[int]) -> bool:
        """Everything that will come has come: all of it where nothing may be lost; elsewhere
        the last one sent (one publisher, one topic: in order) and an idle buffer."""
        got = set(self.got)
        if self.mode == PROMISED:
            return set(sent) <= got
        stats = self.sub.stats()
        return (not sent or sent[-1] in got) and not stats.queued and not stats.in_flight


def _run_fault(
    engine: str,
    fault: str,
    figures: dict[str, dict[str, Any]],
    disconnects: Disconnects,
    inject: Callable[[MosquittoBroker, list[FaultProxy]], Callable[[], None] | None],
) -> dict[str, dict[str, Any]]:
    """Stream, inject the fault into every receiver's link (``inject`` returns how to heal it,
    or None), heal after SILENCE, stream on; then count what each receiver got."""
    topic = f"reliability/{fault}"
    with contextlib.ExitStack() as stack:
        broker = stack.enter_context(MosquittoBroker())
        pub = stack.enter_context(Publisher(broker.url))
        receivers = [
            Receiver(mode, stack.enter_context(FaultProxy(broker)), topic, engine, fault)
            for mode in MODES
        ]
        for receiver in receivers:
            receiver.sub.start()
            stack.callback(receiver.sub.stop)
        with Stream(pub, f"{topic}/x") as stream:
            for r in receivers:
                wait_until(lambda r=r: len(r.got) >= 200, what=f"the stream flowing ({r.mode})")
            faulted = time.monotonic()
            heal = inject(broker, [r.proxy for r in receivers])
            connects = [r.sub.stats().reconnects for r in receivers]
            if heal is not None:
                time.sleep(SILENCE)  # pace: the fault lasts this long
                healed = time.monotonic()
                heal()
            else:
                healed = faulted
            resumed: dict[str, float] = {}

            def all_back() -> bool:
                # polled for every receiver together: each gets the time it was first seen back
                for r, before in zip(receivers, connects, strict=True):
                    if r.mode not in resumed and r.sub.stats().reconnects > before:
                        resumed[r.mode] = time.monotonic() - healed
                return len(resumed) == len(receivers)

            wait_until(all_back, timeout=30, what="every subscriber reconnected")
            counts = [len(r.got) for r in receivers]
            for r, n in zip(receivers, counts, strict=True):
                wait_until(lambda r=r, n=n: len(r.got) >= n + 200, timeout=30, what="flowing again")
            stream.stop()
        for r in receivers:
            with contextlib.suppress(AssertionError):  # what is missing is reported below
                wait_until(lambda r=r: r.settled(stream.sent), timeout=30)
        rows = {}
        for r in receivers:
            stats = r.sub.stop()
            noticed = disconnects.first_after(faulted, str(r.proxy.url))
            row = {
                "engine": engine,
                "fault": fault,
                "mode": r.mode,
                "keepalive_s": KEEPALIVE,
                "detect_s": None if noticed is None else round(noticed - faulted, 2),
                # the first reconnect seen by polling after the heal, for every receiver in turn
                "resume_after_heal_s": round(resumed[r.mode], 2),
                "sent": len(stream.sent),
                "lost": len(set(stream.sent) - set(r.got)),
                "duplicates": len(r.got) - len(set(r.got)),
                "dropped": stats.dropped,
                "max_queue_depth": stats.max_queue_depth,
            }
            label = fault if KEEPALIVE == 4 else f"{fault}@{KEEPALIVE}"
            figures[f"{label}/{engine}/{r.mode}"] = rows[r.mode] = row
            assert stats.accounted, (r.mode, stats)
    assert rows[PROMISED]["lost"] == 0, rows[PROMISED]
    for row in rows.values():
        assert row["lost"] <= row["sent"], row
    return rows


def _check_timing(rows: dict[str, dict[str, Any]], detect_bound: float) -> None:
    for row in rows.values():
        assert row["detect_s"] is not None, row
        assert row["detect_s"] < detect_bound, row
        assert row["resume_after_heal_s"] < RESUME_BOUND, row


def test_black_holed_link(
    engine: str, figures: dict[str, dict[str, Any]], disconnects: Disconnects
) -> None:
    def blackhole(_broker: MosquittoBroker, proxies: list[FaultProxy]) -> Callable[[], None]:
        for proxy in proxies:
            proxy.blackhole()

        def heal() -> None:
            for proxy in proxies:
                proxy.heal()

        return heal

    _check_timing(_run_fault(engine, "blackhole", figures, disconnects, blackhole), DETECT_BOUND)


def test_broker_stopped_then_continued(
    engine: str, figures: dict[str, dict[str, Any]], disconnects: Disconnects
) -> None:
    def sigstop(broker: MosquittoBroker, _proxies: list[FaultProxy]) -> Callable[[], None]:
        assert broker.pid is not None
        pid = broker.pid
        os.kill(pid, signal.SIGSTOP)
        return lambda: os.kill(pid, signal.SIGCONT)

    _check_timing(_run_fault(engine, "sigstop", figures, disconnects, sigstop), DETECT_BOUND)


@pytest.mark.parametrize("reset", [True, False], ids=["rst", "fin"])
def test_connection_cut(
    engine: str, reset: bool, figures: dict[str, dict[str, Any]], disconnects: Disconnects
) -> None:
    def cut(_broker: MosquittoBroker, proxies: list[FaultProxy]) -> None:
        for proxy in proxies:
            proxy.cut(reset=reset)

    fault = "cut-rst" if reset else "cut-fin"
    # a reset or FIN is seen at once, not by keepalive
    _check_timing(_run_fault(engine, fault, figures, disconnects, cut), KEEPALIVE)
