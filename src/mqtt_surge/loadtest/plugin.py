"""Locust event listeners: the broker and the probe in their own processes, received messages as
MQTT-RECV events, and checks that decide the run's exit code.

Everything here runs where Locust judges the run: in the local runner, or on the master
(``--processes``, ``--master``/``--worker``); workers only publish, and report how many messages
they sent with each stats report. The processes are in :mod:`.supervise`, the checks and the
verdict in :mod:`.checks`, what a run produced in :mod:`.run`.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from ..brokers import ENGINES as BROKER_ENGINES
from ..brokers import broker_from_spec
from ..probe.options import (
    ProbeOptions,
    add_option_arguments,
    parse_callback,
    subscriber_options,
)
from ..runtime import url as _url
from ..runtime.children import raise_open_files
from ..runtime.errors import ConfigError
from ..testing.sequence import check_carrier
from .checks import CHECKS, publish_only_summary, verdict
from .run import SENT, RunData
from .supervise import BrokerProcess, ProbeProcess

logger = logging.getLogger("mqtt_surge.loadtest")
RECV_TYPE = "MQTT-RECV"


@dataclasses.dataclass
class Session:
    """This Locust process's load run: the broker it started, the probe, and the run's data."""

    broker: BrokerProcess | None = None
    broker_url: str | None = None
    probe: ProbeProcess | None = None
    run: RunData | None = None


session = Session()


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
    add(
        "--mqtt-client",
        choices=("paho", "raw"),
        default=None,
        help="the publishers' client: paho, or raw (pre-framed packets on gevent sockets, QoS 0 "
        "and 1, several times faster; default: the user class's, paho)",
    )
    add(
        "--mqtt-sequence-in",
        default=None,
        help="where publishers carry the sequence: header | properties (MQTT 5) | field:NAME "
        "(default: the user class's sequence_in, header)",
    )
    add("--mqtt-batch", type=int, default=0, help="messages per request event (0: the user's)")
    add(
        "--mqtt-fleet-devices",
        type=int,
        default=0,
        help="devices (connections) per fleet user (0: the user class's)",
    )
    add("--mqtt-device-rate", type=float, default=0.0, help="msg/s per fleet device (0: 1)")
    add(
        "--no-probe",
        action="store_true",
        help="publish only (to measure publishers): no probe, and the checks are not judged",
    )
    # the probe's own options, from its one definition: --probe-max-queue-size, ...
    add_option_arguments(add, prefix="probe-", load_only=True)
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


def _check_processes(probe_options: dict[str, Any], spec: str) -> None:
    """``--probe-option processes=N`` on a broker of ours that has no shared subscriptions
    would subscribe the children to a topic nobody publishes to: refused, saying why."""
    if probe_options.get("processes", 1) == 1 or spec not in BROKER_ENGINES:
        return
    gaps = broker_from_spec(spec).capabilities.missing(needs=["shared_subscriptions"])
    if gaps:
        raise ConfigError(
            f"--probe-option processes>1 shares the probe's subscription among processes, "
            f"and --mqtt-broker {spec} lacks {gaps[0]}"
        )


@events.init.add_listener
def _on_init(environment: Environment, **_kw: Any) -> None:
    # every Locust process (workers too) may hold thousands of connections, a descriptor each
    before, after = raise_open_files()
    if after > before:
        logger.info(
            "mqtt-surge: open-file limit raised from %d to %d (the hard limit)", before, after
        )
    if not _is_judge(environment) or environment.parsed_options is None:
        return
    options = environment.parsed_options
    if environment.host and "," in environment.host and not options.no_probe:
        sys.exit(
            "mqtt-surge: --host lists several brokers (a fleet spread over them) and the probe "
            "subscribes to one: add --no-probe"
        )
    try:
        # what a user plugs into the probe is checked here, before anything starts: the
        # Subscriber's own checks, naming the bad value
        _check_processes(subscriber_options(options.probe_option), options.mqtt_broker)
        if options.probe_callback:
            parse_callback(options.probe_callback)
        if options.mqtt_sequence_in:
            check_carrier(options.mqtt_sequence_in)
    except (ConfigError, TypeError) as exc:
        sys.exit(f"mqtt-surge: {exc}")
    spec = options.mqtt_broker
    if not environment.host:
        if spec in BROKER_ENGINES:
            session.broker = BrokerProcess(spec)
            session.broker_url = session.broker.url
        else:
            session.broker_url = _url.parse_broker(spec).full
        environment.host = session.broker_url  # workers get it with their spawn message


@events.report_to_master.add_listener
def _report_sent(client_id: str, data: dict[str, Any]) -> None:
    data["mqtt_sent"] = SENT.since_report()


@events.worker_report.add_listener
def _collect_sent(client_id: str, data: dict[str, Any]) -> None:
    if session.run is None:
        return
    for pid, n in data.get("mqtt_sent", {}).items():
        session.run.sent[int(pid)] = session.run.sent.get(int(pid), 0) + n


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_kw: Any) -> None:
    if not _is_judge(environment):
        return
    options = _options(environment)
    run = session.run = RunData(options=options, started_at=time.time())
    SENT.clear()
    if not environment.host and session.broker_url:
        # the web UI's form can clear it; the users spawned next read it
        environment.host = session.broker_url
    if options.no_probe:
        return

    def on_sample(ms: float, topic: str) -> None:
        environment.events.request.fire(
            request_type=RECV_TYPE,
            name=f"recv:{topic.rsplit('/', 1)[0]}",
            response_time=ms,
            response_length=0,
            exception=None,
            context={},
        )

    load_options = [f.name for f in dataclasses.fields(ProbeOptions) if f.metadata.get("load")]
    carriers = {getattr(cls, "sequence_in", "header") for cls in environment.user_classes}
    sequence_in = options.mqtt_sequence_in or (carriers.pop() if len(carriers) == 1 else "header")
    probe = session.probe = ProbeProcess(
        str(environment.host),
        f"{options.mqtt_topic}/#",
        {
            "qos": 1 if options.mqtt_qos is None else options.mqtt_qos,
            "sequence_in": sequence_in,
            **{name: getattr(options, f"probe_{name}") for name in load_options},
        },
        run,
        on_sample,
    )
    if options.probe_sigterm_at > 0:
        gevent.spawn_later(options.probe_sigterm_at, probe.signal_stop)


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_kw: Any) -> None:
    runner = environment.runner
    # On a master that quits at --run-time, test_stop comes before the workers are told to stop:
    # the drain waits until quitting, when they have stopped and sent their last reports.
    if isinstance(runner, MasterRunner) and runner.user_count:
        return
    _finish_probe(environment)


def _take_local_counts(environment: Environment, run: RunData) -> None:
    # on a master the workers' reports count; elsewhere this process published
    if not isinstance(environment.runner, MasterRunner):
        run.sent = SENT.snapshot()


def _finish_probe(environment: Environment) -> None:
    """Let the probe receive what is still on its way, then stop it gracefully (once)."""
    if not _is_judge(environment) or session.run is None or session.probe is None:
        return
    probe, session.probe = session.probe, None
    _take_local_counts(environment, session.run)
    options = _options(environment)
    probe.finish(
        timeout=options.drain_timeout,
        idle=options.drain_idle,
        stop_timeout=options.probe_stop_timeout,
    )


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_kw: Any) -> None:
    if not _is_judge(environment):
        return
    try:
        _finish_probe(environment)
        run = session.run
        if run is not None and _options(environment).no_probe:
            _take_local_counts(environment, run)
            publish_only_summary(run)
        elif run is not None and CHECKS:
            passed = verdict(environment, run)
            if not passed:
                environment.process_exit_code = 1
    finally:
        if session.broker is not None:
            session.broker.stop()
            session.broker = None
