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


def _stop(probe: subprocess.Popen[str]) -> list[dict]:
    """SIGTERM, then every line the probe still prints; it must exit 0."""
    assert probe.stdout is not None
    probe.send_signal(signal.SIGTERM)
    lines = [json.loads(line) for line in probe.stdout]
    assert probe.wait(WAIT) == 0
    return lines


def test_probe_process_reports_and_stops_gracefully(embedded: BrokerBase, topic: str) -> None:
    probe = subprocess.Popen(
        [sys.executable, "-m", "mqtt_surge", "probe", embedded.url.full, f"{topic}/#"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert probe.stdout is not None
        ready = json.loads(probe.stdout.readline())
        assert ready["event"] == "ready"
        with Publisher(embedded.url) as pub:
            sent = pub.burst(f"{topic}/a", 300, qos=1)
            received = 0
            while received < len(sent):  # reports come every 0.25 s
                report = json.loads(probe.stdout.readline())
                received = report["stats"]["received"]
        lines = _stop(probe)
    finally:
        if probe.poll() is None:
            probe.kill()
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
    probe = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mqtt_surge",
            "probe",
            embedded.url.full,
            f"{topic}/#",
            "--callback",
            "examples.app.handlers:on_reading_async",
            "--option",
            "max_concurrency=3",
            "--option",
            "worker_threads=2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,  # a few lines at most; read once it has exited
        text=True,
        cwd=Path(__file__).parents[1],  # where examples/ is, as when run from the repository
    )
    try:
        assert probe.stdout is not None
        ready = json.loads(probe.stdout.readline())
        assert ready["options"]["option"] == ["max_concurrency=3", "worker_threads=2"]
        with Publisher(embedded.url) as pub:
            sent = pub.burst(f"{topic}/a", 50, qos=1)
            processed = 0
            while processed < len(sent):  # reports come every 0.25 s
                processed = json.loads(probe.stdout.readline())["stats"]["processed"]
        lines = _stop(probe)
    finally:
        if probe.poll() is None:
            probe.kill()
    assert probe.stderr is not None
    # awaited on the subscriber's loop: called like a sync one, it would warn "never awaited"
    assert "never awaited" not in probe.stderr.read()
    final = lines[-1]
    assert (final["stats"]["processed"], final["stats"]["failed"]) == (50, 0)
    assert final["callback_errors"] == {"count": 0, "first": []}
