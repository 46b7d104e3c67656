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

import argparse
import dataclasses
import json
import os
import random
import sys
import threading
import time
from array import array
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._buffer import OVERFLOW_POLICIES
from ._message import Message
from ._options import ACK_MODES
from ._signals import capture_signals
from .subscriber import Subscriber
from .testing import Sequences, unpack_header
from .transports import ENGINE_HELP, ENGINES

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


def _option(
    default: Any, help: str = "", *, choices: Sequence[Any] = (), load: bool = False
) -> Any:
    """A probe option: its default, and how the command line shows it. ``load``: the load suite
    offers it as ``--probe-<name>`` too."""
    return dataclasses.field(
        default=default, metadata={"help": help, "choices": tuple(choices), "load": load}
    )


@dataclasses.dataclass
class ProbeOptions:
    """The probe's options: ``mqtt-surge probe``'s arguments and, where marked ``load``, the load
    suite's ``--probe-*`` options, both made from these fields (:func:`add_arguments`,
    :func:`probe_argv`, :func:`options_from`)."""

    url: str
    topic: str
    qos: int = _option(1, choices=(0, 1, 2))
    max_queue_size: int = _option(1000, load=True)
    worker_threads: int = _option(4, load=True)
    overflow: str = _option("drop_oldest", choices=OVERFLOW_POLICIES, load=True)
    ack: str = _option("on_receive", choices=ACK_MODES, load=True)
    callback_ms: float = _option(0.0, "simulated work per message", load=True)
    stop_timeout: float = _option(5.0, load=True)
    report_interval: float = _option(0.25)
    samples: int = _option(100, "latency samples per report")
    engine: str | None = _option(None, ENGINE_HELP, choices=ENGINES, load=True)


def _flag(field: dataclasses.Field[Any], prefix: str = "") -> str:
    return "--" + prefix + field.name.replace("_", "-")


def _options() -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(ProbeOptions) if f.metadata]


def add_option_arguments(
    add: Callable[..., Any], *, prefix: str = "", load_only: bool = False
) -> None:
    """Add the probe's options through ``add`` (``parser.add_argument``), each as
    ``--<prefix><name>``; ``load_only``: only those the load suite offers."""
    for field in _options():
        if load_only and not field.metadata["load"]:
            continue
        extra: dict[str, Any] = {"default": field.default, "help": field.metadata["help"] or None}
        if field.metadata["choices"]:
            extra["choices"] = field.metadata["choices"]
        if field.default is not None:
            extra["type"] = type(field.default)
        add(_flag(field, prefix), **extra)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="broker: host, host:port or mqtt://user:pass@host:port")
    parser.add_argument("topic", help="topic filter to subscribe to")
    add_option_arguments(parser.add_argument)


def options_from(args: argparse.Namespace) -> ProbeOptions:
    return ProbeOptions(
        url=args.url,
        topic=args.topic,
        **{field.name: getattr(args, field.name) for field in _options()},
    )


def probe_argv(url: str, topic: str, values: Mapping[str, Any]) -> list[str]:
    """The arguments of ``mqtt-surge probe`` for ``values`` (option name -> value; options left
    out, or None, keep the probe's defaults)."""
    argv = [url, topic]
    for field in _options():
        value = values.get(field.name)
        if value is not None:
            argv += [_flag(field), str(value)]
    return argv


class Probe:
    def __init__(self, options: ProbeOptions) -> None:
        self.options = options
        self.lock = threading.Lock()
        self.latency = Histogram()
        self.sequences: dict[int, Sequences] = {}
        self.samples: list[tuple[float, str]] = []
        self.seen_since_report = 0
        self.unsequenced = 0
        self.subscriber = Subscriber(
            broker=options.url,
            topic=options.topic,
            callback=self.on_message,
            qos=options.qos,
            max_queue_size=options.max_queue_size,
            worker_threads=options.worker_threads,
            overflow=options.overflow,  # type: ignore[arg-type]
            ack=options.ack,  # type: ignore[arg-type]
            warn_interval=1.0,
            engine=options.engine,  # type: ignore[arg-type]
        )

    def on_message(self, message: Message) -> None:
        now = time.time()
        if self.options.callback_ms:
            time.sleep(self.options.callback_ms / 1000)  # simulated work in the callback
        header = unpack_header(message.payload)
        with self.lock:
            if header is None:
                self.unsequenced += 1
                return
            ms = max(0.0, (now - header.sent_at) * 1000)
            self.latency.add(ms)
            self.sequences.setdefault(header.publisher_id, Sequences()).add(header.sequence)
            self.seen_since_report += 1
            # reservoir sampling: an even sample of this interval's latencies
            if len(self.samples) < self.options.samples:
                self.samples.append((ms, message.topic))
            else:
                slot = random.randrange(self.seen_since_report)  # noqa: S311 - sampling
                if slot < self.options.samples:
                    self.samples[slot] = (ms, message.topic)

    def report(self, event: str = "report") -> dict[str, Any]:
        stats = self.subscriber.stats()
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
                "rss_kb": rss_kb(),
                "peak_rss_kb": rss_kb("VmHWM"),
                "queue_full_warnings": stats.queue_full_warnings,
                "overloaded_warnings": stats.overloaded_warnings,
                "samples": samples,
            }
        return data

    def publishers(self) -> dict[str, dict[str, int]]:
        with self.lock:
            return {str(pid): seqs.summary() for pid, seqs in self.sequences.items()}


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
        probe.subscriber.start()
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
    final_stats = probe.subscriber.stop(timeout=options.stop_timeout)
    stop_seconds = time.monotonic() - began
    final = probe.report("final")
    final["stats"] = dataclasses.asdict(final_stats)
    final["stop_seconds"] = stop_seconds
    final["threads_left"] = sorted(
        t.name for t in threading.enumerate() if t is not threading.main_thread()
    )
    final["publishers"] = probe.publishers()
    emit(final)
    return 0
