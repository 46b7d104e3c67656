"""The probe: its bookkeeping, and the real process against a real broker."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from mqtt_surge.brokers import BrokerBase
from mqtt_surge.probe import Histogram, Sequences
from mqtt_surge.testing import Publisher

from ._support import WAIT


def test_histogram_percentiles() -> None:
    histogram = Histogram()
    assert histogram.percentile(99) is None
    for ms in range(1, 101):  # 1 .. 100 ms
        histogram.add(float(ms))
    assert histogram.total == 100
    assert histogram.percentile(50) == 50.1  # bucket upper bounds, 0.1 ms resolution
    assert histogram.percentile(99) == 99.1
    assert histogram.maximum == 100.0
    histogram.add(10**9)  # beyond the last bucket: counted there, maximum kept
    assert histogram.maximum == 10**9


def test_sequences_summary() -> None:
    seqs = Sequences()
    for s in [0, 1, 2, 5, 7, 8, 9, 8, 6]:
        seqs.add(s)
    summary = seqs.summary()
    assert summary == {
        "processed": 8,
        "highest": 9,
        "tail_from": 5,
        "missing": 2,
        "duplicates": 1,
        "reorders": 1,
    }


def run_probe(
    broker: BrokerBase, topic: str, count: int, *args: str, until: str = "received"
) -> tuple[dict, list[dict], str]:
    """``mqtt-surge probe`` on ``topic/#`` (from the repository root, where ``examples/`` is),
    ``count`` sequenced QoS 1 messages, reports read until ``until`` (a counter of its reports)
    reached ``count``, then SIGTERM; it must exit 0. Its ready line, every line after the
    SIGTERM, and its stderr."""
    probe = subprocess.Popen(
        [sys.executable, "-m", "mqtt_surge", "probe", broker.url.full, f"{topic}/#", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,  # a few lines at most (failures are logged once a second)
        text=True,
        cwd=Path(__file__).parents[1],
    )
    try:
        assert probe.stdout is not None
        assert probe.stderr is not None
        ready = json.loads(probe.stdout.readline())
        assert ready["event"] == "ready"
        with Publisher(broker.url) as pub:
            pub.burst(f"{topic}/a", count, qos=1)
            seen = 0
            while seen < count:  # reports come every 0.25 s
                report = json.loads(probe.stdout.readline())
                seen = (
                    report["latency_ms"]["count"] if until == "latency" else report["stats"][until]
                )
        probe.send_signal(signal.SIGTERM)
        lines = [json.loads(line) for line in probe.stdout]
        assert probe.wait(WAIT) == 0
        return ready, lines, probe.stderr.read()
    finally:
        if probe.poll() is None:
            probe.kill()


def test_probe_process_reports_and_stops_gracefully(embedded: BrokerBase, topic: str) -> None:
    _, lines, _ = run_probe(embedded, topic, 300)
    final = lines[-1]
    assert final["event"] == "final"
    assert final["stats"]["processed"] == 300
    assert final["threads_left"] == []
    (publisher,) = final["publishers"].values()
    assert publisher["processed"] == 300
    assert publisher["missing"] == 0
    assert final["latency_ms"]["count"] == 300


def test_probe_runs_an_async_callback_under_test_with_subscriber_options(
    embedded: BrokerBase, topic: str
) -> None:
    ready, lines, stderr = run_probe(
        embedded,
        topic,
        50,
        "--callback",
        "examples.app.handlers:on_reading_async",
        "--option",
        "max_concurrency=3",
        "--option",
        "worker_threads=2",
        until="processed",
    )
    assert ready["options"]["option"] == ["max_concurrency=3", "worker_threads=2"]
    # awaited on the subscriber's loop: called like a sync one, it would warn "never awaited"
    assert "never awaited" not in stderr
    final = lines[-1]
    assert (final["stats"]["processed"], final["stats"]["failed"]) == (50, 0)
    assert final["callback_errors"] == {"count": 0, "first": []}


def test_probe_with_processes_accounts_for_what_the_children_processed(
    mosquitto: BrokerBase, topic: str
) -> None:
    _, lines, _ = run_probe(
        mosquitto,
        topic,
        200,
        "--callback",
        "examples.app.handlers:on_reading_json",  # fails on the burst's binary payloads
        "--option",
        "processes=2",
        until="latency",
    )
    final = lines[-1]
    assert (final["stats"]["received"], final["stats"]["failed"]) == (200, 200)
    (publisher,) = final["publishers"].values()
    assert (publisher["processed"], publisher["missing"]) == (200, 0)
    assert final["callback_errors"]["count"] == 200
    assert "raised in subscriber process" in final["callback_errors"]["first"][0]
    assert "on_reading_json" in final["callback_errors"]["first"][0]
    assert final["threads_left"] == []
    assert sum(s["processed"] + s["failed"] for s in final["process_stats"]) == 200
