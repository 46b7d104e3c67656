"""The subscriber under test, in a process of its own, reporting what it sees as JSON lines.

``mqtt-surge probe URL TOPIC [options]`` runs a :class:`Subscriber` whose callback reads the
sequence header of :mod:`mqtt_surge.testing` (publisher id, sequence, send time), measures the
end-to-end latency from the send time, optionally simulates work, and keeps per publisher a bitmap
of the sequences it processed. It prints to stdout, one JSON object a line:

- ``{"event": "ready", ...}`` once subscribed;
- ``{"event": "report", ...}`` every ``--report-interval`` seconds: the counters, latency
  percentiles, gaps/duplicates/reorderings so far, RSS, queue-full warnings, and up to
  ``--samples`` sampled latencies since the last report;
- ``{"event": "final", ...}`` after SIGTERM/SIGINT and a graceful ``stop()``: the final counters,
  how long the stop took, the threads still alive, and per publisher what survived.

The Locust side (:mod:`mqtt_surge.loadtest`) runs it, because Locust monkey-patches its own
process with gevent. It is plain Python and can be run by hand too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import os
import random
import sys
import threading
import time
import traceback
from array import array
from typing import Any

from ..runtime.signals import capture_signals
from ..subscriber._message import Message
from ..subscriber._stats import Stats, add_up
from ..subscriber._subscriber import Subscriber, is_async_callable
from ..testing import Sequences
from ..testing.sequence import check_carrier, read_sequence
from .options import ProbeOptions, import_callback, subscriber_options
from .work import AsyncWork, Work, quiet

HISTOGRAM_STEP_MS = 0.1
HISTOGRAM_BUCKETS = 200_000  # 0.1 ms resolution up to 20 s; later latencies land in the last


class Histogram:
    """Latencies in fixed 0.1 ms buckets: exact enough, and constant memory for any count."""

    def __init__(self) -> None:
        self.counts = array("Q", bytes(8 * (HISTOGRAM_BUCKETS + 1)))
        self.total = 0
        self.maximum = 0.0

    def add(self, ms: float) -> None:
        index = min(int(ms / HISTOGRAM_STEP_MS), HISTOGRAM_BUCKETS) if ms > 0 else 0
        self.counts[index] += 1
        self.total += 1
        self.maximum = max(self.maximum, ms)

    def percentile(self, p: float) -> float | None:
        if not self.total:
            return None
        rank = max(1, round(self.total * p / 100))
        seen = 0
        for index, count in enumerate(self.counts):
            seen += count
            if seen >= rank:
                return round((index + 1) * HISTOGRAM_STEP_MS, 1)
        return self.maximum


FIRST_ERRORS = 3  # tracebacks of a callback under test kept for the verdict; the rest counted


class Probe:
    """The subscriber under test and what it saw: latencies, sequences per publisher, and the
    errors of a callback under test (``--callback``). With ``--subscribers N`` (fan-out), N
    subscribers of their own on the topic, each with its own sequences: each must get every
    message; counters and latencies are over all of them."""

    def __init__(self, options: ProbeOptions) -> None:
        self.options = options
        self.lock = threading.Lock()
        self.latency = Histogram()
        # per subscriber, per publisher id
        self.fanout: list[dict[int, Sequences]] = [{} for _ in range(options.subscribers)]
        self.sequences = self.fanout[0]
        self.samples: list[tuple[float, str]] = []
        self.seen_since_report = 0
        self.unsequenced = 0
        self.carrier = check_carrier(options.sequence_in)
        self.sequenced_by: dict[str, int] = {}  # where the sequences were found: count
        self.errors: list[str] = []  # the first FIRST_ERRORS tracebacks
        self.user = import_callback(options.callback) if options.callback else None
        settings: dict[str, Any] = {
            "qos": options.qos,
            "max_queue_size": options.max_queue_size,
            "worker_threads": options.worker_threads,
            "overflow": options.overflow,
            "ack": options.ack,
            "warn_interval": 1.0,
            "engine": options.engine,
            # user properties travel in MQTT 5 only
            **({"protocol": 5} if self.carrier == "properties" else {}),
            **subscriber_options(options.option),  # the user's win
        }
        self.subscribers = [
            self._subscriber(index, settings) for index in range(options.subscribers)
        ]
        self.subscriber = self.subscribers[0]

    def _subscriber(self, index: int, settings: dict[str, Any]) -> Subscriber:
        is_async = is_async_callable(self.user)
        spread = settings.get("processes", 1) > 1
        callback: Any
        if spread:
            # the simulated work and the callback under test run in the children; what they
            # processed (when each began, what it raised) comes back here to be accounted
            callback = (AsyncWork if is_async else Work)(
                self.options.callback_ms, self.options.callback
            )
        else:
            callback = functools.partial(
                self.on_message_async if is_async else self.on_message, index
            )
        return Subscriber(
            broker=self.options.url,
            topic=self.options.topic,
            callback=callback,
            on_error=quiet if spread else self.on_error,
            observer=functools.partial(self.observe, index) if spread else None,
            **settings,
        )

    def observe(
        self, index: int, message: Message, started: float, error: BaseException | None
    ) -> None:
        """A message a child process processed (``processes`` > 1)."""
        self.account(message, started, index)
        if error is not None:
            self.on_error(error, message)

    def on_message(self, index: int, message: Message) -> None:
        started = time.time()
        if self.options.callback_ms:
            time.sleep(self.options.callback_ms / 1000)  # simulated work in the callback
        self.account(message, started, index)
        if self.user is not None:
            self.user(message)

    async def on_message_async(self, index: int, message: Message) -> None:
        started = time.time()
        if self.options.callback_ms:
            await asyncio.sleep(self.options.callback_ms / 1000)  # simulated work
        self.account(message, started, index)
        assert self.user is not None
        await self.user(message)

    def on_error(self, error: BaseException, message: Message) -> None:
        with self.lock:
            if len(self.errors) < FIRST_ERRORS:
                trace = "".join(traceback.format_exception(error)).rstrip()
                self.errors.append(f"topic {message.topic!r}: {trace}")

    def account(self, message: Message, started: float, index: int = 0) -> None:
        """The latency from the header's send time to ``started`` (when the callback began), and
        the sequence, for subscriber ``index``; then the callback under test runs."""
        header, found_in = read_sequence(message, self.carrier)
        with self.lock:
            if header is None:
                self.unsequenced += 1
                return
            self.sequenced_by[found_in] = self.sequenced_by.get(found_in, 0) + 1
            ms = max(0.0, (started - header.sent_at) * 1000)
            self.latency.add(ms)
            self.fanout[index].setdefault(header.publisher_id, Sequences()).add(header.sequence)
            self.seen_since_report += 1
            # reservoir sampling: an even sample of this interval's latencies
            if len(self.samples) < self.options.samples:
                self.samples.append((ms, message.topic))
            else:
                slot = random.randrange(self.seen_since_report)  # noqa: S311 - sampling
                if slot < self.options.samples:
                    self.samples[slot] = (ms, message.topic)

    def stats(self) -> Stats:
        """The subscribers' counters added up (the deepest queue: the deepest of them)."""
        each = [sub.stats() for sub in self.subscribers]
        return each[0] if len(each) == 1 else add_up(each)

    def report(self, event: str = "report") -> dict[str, Any]:
        stats = self.stats()
        with self.lock:
            samples, self.samples = self.samples, []
            self.seen_since_report = 0
            sequences = list(self.sequences.values())
            data: dict[str, Any] = {
                "event": event,
                "time": time.time(),
                "stats": dataclasses.asdict(stats),
                "latency_ms": {
                    "count": self.latency.total,
                    "p50": self.latency.percentile(50),
                    "p99": self.latency.percentile(99),
                    "max": self.latency.maximum,
                },
                "duplicates": sum(s.duplicates for s in sequences),
                "reorders": sum(s.reorders for s in sequences),
                "missing": sum(s.highest + 1 - s.count for s in sequences),
                "unsequenced": self.unsequenced,
                "sequenced_by": dict(self.sequenced_by),
                "rss_kb": rss_kb(),
                "peak_rss_kb": rss_kb("VmHWM"),
                "queue_full_warnings": stats.queue_full_warnings,
                "overloaded_warnings": stats.overloaded_warnings,
                "callback_errors": {"count": stats.failed, "first": list(self.errors)},
                "samples": samples,
            }
            if len(self.fanout) > 1:
                data["fanout"] = [
                    {
                        "received": sum(s.count + s.duplicates for s in seen.values()),
                        "missing": sum(s.highest + 1 - s.count for s in seen.values()),
                        "duplicates": sum(s.duplicates for s in seen.values()),
                    }
                    for seen in self.fanout
                ]
        return data

    def publishers(self, index: int = 0) -> dict[str, dict[str, int]]:
        """Per publisher, what subscriber ``index`` processed (:meth:`Sequences.summary`)."""
        with self.lock:
            return {str(pid): seqs.summary() for pid, seqs in self.fanout[index].items()}


def rss_kb(field: str = "VmRSS") -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def emit(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


def run(options: ProbeOptions) -> int:
    probe = Probe(options)
    with capture_signals() as stop:
        for subscriber in probe.subscribers:
            subscriber.start()
        emit(
            {
                "event": "ready",
                "pid": os.getpid(),
                "engine": probe.subscriber.engine,
                "idle_rss_kb": rss_kb(),
                "options": dataclasses.asdict(options),
            }
        )
        while not stop.wait(options.report_interval):
            emit(probe.report())
    began = time.monotonic()
    for subscriber in probe.subscribers:
        subscriber.stop(timeout=options.stop_timeout)
    stop_seconds = time.monotonic() - began
    final = probe.report("final")  # the final counts: stats() of a stopped subscriber is final
    final["stop_seconds"] = stop_seconds
    final["threads_left"] = sorted(
        t.name for t in threading.enumerate() if t is not threading.main_thread()
    )
    final["publishers"] = probe.publishers()
    if probe.subscriber.options.processes > 1:  # each child's share of the work
        final["process_stats"] = [dataclasses.asdict(s) for s in probe.subscriber.process_stats()]
    if len(probe.subscribers) > 1:
        final["fanout_publishers"] = [probe.publishers(i) for i in range(len(probe.subscribers))]
    emit(final)
    return 0
