"""Locust event listeners: the broker and the probe in their own processes, received messages as
MQTT-RECV events, and checks that decide the run's exit code.

Everything here runs where Locust judges the run: in the local runner, or on the master
(``--processes``, ``--master``/``--worker``); workers only publish, and report how many messages
they sent with each stats report.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from .. import _children, _url
from ..brokers import ENGINES as BROKER_ENGINES
from ..transports import ENGINES as CLIENT_ENGINES
from . import user as user_module

logger = logging.getLogger("mqtt_surge.loadtest")
RECV_TYPE = "MQTT-RECV"


@dataclasses.dataclass
class Check:
    """One pass/fail check: ``measure(run)`` returns ``(measured text, passed)``."""

    name: str
    threshold: Callable[[Any], str]
    measure: Callable[[RunData], tuple[str, bool]]


CHECKS: list[Check] = []


def check(name: str, threshold: Callable[[Any], str] | str) -> Callable[..., Any]:
    """Register a check for this run (decorator): ``@check("nothing lost", "received == sent")``.

    The decorated function gets a :class:`RunData` and returns ``(measured, passed)``;
    ``threshold`` is text, or a function of the parsed options that makes it.
    """

    def register(
        fn: Callable[[RunData], tuple[str, bool]],
    ) -> Callable[[RunData], tuple[str, bool]]:
        describe = threshold if callable(threshold) else (lambda _o, t=threshold: t)
        CHECKS.append(Check(name, describe, fn))
        return fn

    return register


@dataclasses.dataclass
class RunData:
    """What a run produced, as the checks see it."""

    options: Any
    sent: dict[int, int] = dataclasses.field(default_factory=dict)
    reports: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    ready: dict[str, Any] = dataclasses.field(default_factory=dict)
    final: dict[str, Any] | None = None
    probe_exit_code: int | None = None
    probe_signalled_at: float | None = None
    probe_exited_at: float | None = None
    started_at: float = 0.0

    @property
    def total_sent(self) -> int:
        return sum(self.sent.values())

    @property
    def last(self) -> dict[str, Any]:
        return self.final or (self.reports[-1] if self.reports else {})

    @property
    def stats(self) -> dict[str, int]:
        return dict(self.last.get("stats", {}))

    def receive_rate(self) -> float:
        """Messages per second received by the probe, from its first to its last arrival."""
        points = [(r["time"], r["stats"]["received"]) for r in self.reports if "stats" in r]
        moving = [(t, n) for t, n in points if n > 0]
        if len(moving) < 2:
            return 0.0
        first_t, first_n = moving[0]
        last = max(moving, key=lambda p: p[1])
        end_t = min(t for t, n in moving if n == last[1])
        return (last[1] - first_n) / (end_t - first_t) if end_t > first_t else 0.0

    def max_queue_depth(self) -> int:
        return max((r["stats"]["max_queue_depth"] for r in self.reports if "stats" in r), default=0)

    def peak_rss_mb(self) -> float:
        peak = max((r.get("peak_rss_kb", 0) for r in self.reports), default=0)
        return float(peak) / 1024

    def idle_rss_mb(self) -> float:
        return float(self.ready.get("idle_rss_kb", 0)) / 1024


class _State:
    def __init__(self) -> None:
        self.broker: subprocess.Popen[str] | None = None
        self.broker_url: str | None = None
        self.probe: subprocess.Popen[str] | None = None
        self.reader: Any = None
        self.run: RunData | None = None
        self.reported: dict[int, int] = {}  # a worker's counts as of its last report


state = _State()


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    group = parser.add_argument_group("mqtt-surge")
    add = group.add_argument
    add(
        "--mqtt-broker",
        default="embedded",
        help=f"{' | '.join(BROKER_ENGINES)} (started in a process of their own) | a URL; "
        "--host, when given, wins",
    )
    add(
        "--mqtt-topic", default="mqtt-surge/load", help="topic prefix; the probe subscribes to it/#"
    )
    add(
        "--mqtt-qos",
        type=int,
        default=None,
        help="QoS of the publishes and of the probe's subscription (default: the user class's; 1)",
    )
    add("--mqtt-rate", type=float, default=0.0, help="messages/s per user; 0: unpaced")
    add("--mqtt-batch", type=int, default=0, help="messages per request event (0: the user's)")
    add(
        "--no-probe",
        action="store_true",
        help="publish only (to measure publishers): no probe, and the checks are not judged",
    )
    add("--probe-max-queue-size", type=int, default=1000)
    add("--probe-worker-threads", type=int, default=4)
    add("--probe-overflow", default="drop_oldest", choices=["drop_oldest", "drop_newest", "block"])
    add("--probe-callback-ms", type=float, default=0.0, help="simulated work per message")
    add("--probe-ack", default="on_receive", choices=["on_receive", "after_processing"])
    add("--probe-stop-timeout", type=float, default=5.0)
    add(
        "--probe-engine",
        default="",
        choices=["", *CLIENT_ENGINES],
        help="the probe's client engine (default: $MQTT_SURGE_ENGINE, else paho)",
    )
    add(
        "--probe-sigterm-at",
        type=float,
        default=0.0,
        help="send the probe SIGTERM this many seconds into the test (0: at the end)",
    )
    add(
        "--drain-timeout",
        type=float,
        default=120.0,
        help="at the end, wait at most this long for the probe to receive what was sent",
    )
    add(
        "--drain-idle",
        type=float,
        default=5.0,
        help="... and stop waiting when it stalls this long",
    )
    add("--check-min-rate", type=float, default=500.0, help="msg/s the probe must receive")
    add("--check-max-p99-ms", type=float, default=1000.0, help="end-to-end p99 latency bound")
    add("--check-max-rss-growth-mb", type=float, default=50.0, help="probe RSS growth bound")
    add("--check-stop-margin", type=float, default=3.0, help="seconds allowed beyond stop timeout")


def _options(environment: Environment) -> Any:
    if environment.parsed_options is None:
        raise RuntimeError("mqtt_surge.loadtest needs locust's command-line options")
    return environment.parsed_options


def _is_judge(environment: Environment) -> bool:
    return not isinstance(environment.runner, WorkerRunner)


def _start_broker(spec: str) -> str:
    if spec not in BROKER_ENGINES:
        return _url.parse_broker(spec).full
    proc = _children.popen(
        [sys.executable, "-m", "mqtt_surge", "broker", "--engine", spec],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = str(proc.stdout.readline()).strip()  # printed once the broker answered a CONNECT
    if not line:
        raise RuntimeError(f"the {spec} broker did not start (exit code {proc.wait()})")
    state.broker = proc
    return line


@events.init.add_listener
def _on_init(environment: Environment, **_kw: Any) -> None:
    if not _is_judge(environment) or environment.parsed_options is None:
        return
    options = environment.parsed_options
    if not environment.host:
        state.broker_url = _start_broker(options.mqtt_broker)
        environment.host = state.broker_url  # workers get it with their spawn message


@events.report_to_master.add_listener
def _report_sent(client_id: str, data: dict[str, Any]) -> None:
    with user_module.sent_lock:
        data["mqtt_sent"] = {
            str(pid): n - state.reported.get(pid, 0) for pid, n in user_module.sent.items()
        }
        state.reported = dict(user_module.sent)


@events.worker_report.add_listener
def _collect_sent(client_id: str, data: dict[str, Any]) -> None:
    if state.run is None:
        return
    for pid, n in data.get("mqtt_sent", {}).items():
        state.run.sent[int(pid)] = state.run.sent.get(int(pid), 0) + n


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_kw: Any) -> None:
    if not _is_judge(environment):
        return
    options = _options(environment)
    run = state.run = RunData(options=options, started_at=time.time())
    with user_module.sent_lock:
        user_module.sent.clear()
    if not environment.host and state.broker_url:
        # the web UI's form can clear it; the users spawned next read it
        environment.host = state.broker_url
    if options.no_probe:
        return
    url = environment.host
    state.probe = _children.popen(
        [
            sys.executable,
            "-m",
            "mqtt_surge",
            "probe",
            str(url),
            f"{options.mqtt_topic}/#",
            "--qos",
            str(1 if options.mqtt_qos is None else options.mqtt_qos),
            "--max-queue-size",
            str(options.probe_max_queue_size),
            "--worker-threads",
            str(options.probe_worker_threads),
            "--overflow",
            options.probe_overflow,
            "--ack",
            options.probe_ack,
            "--callback-ms",
            str(options.probe_callback_ms),
            "--stop-timeout",
            str(options.probe_stop_timeout),
            *(["--engine", options.probe_engine] if options.probe_engine else []),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert state.probe.stdout is not None
    ready = state.probe.stdout.readline()
    if not ready:
        raise RuntimeError(f"the probe did not start (exit code {state.probe.wait()})")
    run.ready = json.loads(ready)
    state.reader = gevent.spawn(_read_probe, environment, state.probe, run)
    if options.probe_sigterm_at > 0:
        gevent.spawn_later(options.probe_sigterm_at, _signal_probe, run, state.probe)


def _read_probe(environment: Environment, probe: subprocess.Popen[str], run: RunData) -> None:
    assert probe.stdout is not None
    for line in probe.stdout:
        data = json.loads(line)
        if data["event"] == "final":
            run.final = data
        else:
            run.reports.append(data)
        # sampled, at most --samples per report: one event per message would cost the Locust
        # process as much as the publishing; the exact counts come from the probe's counters
        for ms, topic in data.get("samples", []):
            environment.events.request.fire(
                request_type=RECV_TYPE,
                name=f"recv:{topic.rsplit('/', 1)[0]}",
                response_time=ms,
                response_length=0,
                exception=None,
                context={},
            )
        data.pop("samples", None)
    run.probe_exit_code = probe.wait()
    run.probe_exited_at = time.time()


def _signal_probe(run: RunData, probe: subprocess.Popen[str]) -> None:
    if probe.poll() is None and run.probe_signalled_at is None:
        run.probe_signalled_at = time.time()
        probe.send_signal(signal.SIGTERM)


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_kw: Any) -> None:
    runner = environment.runner
    # On a master that quits at --run-time, test_stop comes before the workers are told to stop:
    # the drain waits until quitting, when they have stopped and sent their last reports.
    if isinstance(runner, MasterRunner) and runner.user_count:
        return
    _finish_probe(environment)


def _finish_probe(environment: Environment) -> None:
    """Let the probe receive what is still on its way, then stop it gracefully (once)."""
    if not _is_judge(environment) or state.run is None or state.probe is None:
        return
    run, probe = state.run, state.probe
    state.probe = None
    if not isinstance(environment.runner, MasterRunner):
        with user_module.sent_lock:
            run.sent = dict(user_module.sent)
    options = _options(environment)
    deadline = time.monotonic() + options.drain_timeout
    progress_at, last_received = time.monotonic(), -1
    # give up when nothing moved for --drain-idle seconds, or at --drain-timeout
    while probe.poll() is None and time.monotonic() < deadline:
        stats = run.stats
        received = stats.get("received", 0)
        if received >= run.total_sent and stats.get("queued", 1) == 0:
            break
        if received != last_received:
            progress_at, last_received = time.monotonic(), received
        elif time.monotonic() - progress_at > options.drain_idle:
            break
        gevent.sleep(0.1)  # pace: the probe reports every 0.25 s
    _signal_probe(run, probe)
    try:
        probe.wait(options.probe_stop_timeout + 10)
    except subprocess.TimeoutExpired:
        probe.kill()
    state.reader.join(timeout=10)


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_kw: Any) -> None:
    if not _is_judge(environment):
        return
    try:
        _finish_probe(environment)
        if state.run is not None and _options(environment).no_probe:
            _publish_only_summary(environment, state.run)
        elif state.run is not None and CHECKS:
            passed = verdict(environment, state.run)
            if not passed:
                environment.process_exit_code = 1
    finally:
        if state.broker is not None:
            state.broker.send_signal(signal.SIGTERM)
            state.broker.wait(15)
            state.broker = None


def _publish_only_summary(environment: Environment, run: RunData) -> None:
    if not isinstance(environment.runner, MasterRunner):
        with user_module.sent_lock:
            run.sent = dict(user_module.sent)
    sys.stdout.write(f"\nmqtt-surge: --no-probe: {run.total_sent} messages sent; no checks\n")
    report_path = os.environ.get("MQTT_SURGE_VERDICT_JSON")
    if report_path:
        with open(report_path, "w") as out:
            json.dump({"sent": run.total_sent, "checks": []}, out)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def verdict(environment: Environment, run: RunData) -> bool:
    """Print the verdict table; True if every check passed."""
    rows = []
    for item in CHECKS:
        try:
            measured, ok = item.measure(run)
        except Exception as exc:  # a check that cannot measure has failed, visibly
            measured, ok = f"error: {exc!r}", False
        rows.append((item.name, item.threshold(run.options), measured, ok))
    header = ("check", "threshold", "measured", False)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(3)]
    lines = [
        "",
        f"mqtt-surge verdict (probe engine: {run.ready.get('engine', '-')})",
        f"{'check':<{widths[0]}}  {'threshold':<{widths[1]}}  {'measured':<{widths[2]}}  result",
    ]
    for name, threshold, measured, ok in rows:
        lines.append(
            f"{name:<{widths[0]}}  {threshold:<{widths[1]}}  {measured:<{widths[2]}}  "
            f"{'PASS' if ok else 'FAIL'}"
        )
    stats = run.stats
    lines.append(
        f"sent {run.total_sent}, received {stats.get('received')}, processed "
        f"{stats.get('processed')}, dropped {stats.get('dropped')}, abandoned "
        f"{stats.get('abandoned')}, receive rate {run.receive_rate():.0f} msg/s, p99 "
        f"{_ms(run.last.get('latency_ms', {}).get('p99'))} ms"
    )
    text = "\n".join(lines)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    report_path = os.environ.get("MQTT_SURGE_VERDICT_JSON")
    if report_path:
        with open(report_path, "w") as out:
            json.dump(
                {
                    "checks": [
                        {"name": n, "threshold": t, "measured": m, "passed": ok}
                        for n, t, m, ok in rows
                    ],
                    "sent": run.total_sent,
                    "probe_engine": run.ready.get("engine"),
                    "stats": stats,
                    "receive_rate": run.receive_rate(),
                    "latency_ms": run.last.get("latency_ms"),
                    "final": {k: v for k, v in (run.final or {}).items() if k != "publishers"},
                },
                out,
                indent=2,
            )
    return all(ok for *_, ok in rows)
