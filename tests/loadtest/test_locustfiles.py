"""The load suite as people run it: locust in a subprocess (it monkey-patches its own process
with gevent, so nothing here imports it), the embedded broker, and the run's exit code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LOCUSTFILES = Path(__file__).parents[2] / "locustfiles"
# the locust installed beside this interpreter (the venv's), not whichever is first on PATH
_SIBLING = Path(sys.executable).parent / "locust"
LOCUST = str(_SIBLING) if _SIBLING.exists() else (shutil.which("locust") or "locust")

pytestmark = pytest.mark.slow


def run_locust(
    name: str, tmp_path: Path, *args: str, from_root: bool = False
) -> tuple[int, str, dict]:
    """``from_root``: as the README shows it, ``locust -f locustfiles/NAME.py`` from the
    repository root (pyproject.toml's [tool.locust] holds the headless defaults), so that the
    probe can import ``examples.app.handlers``."""
    verdict = tmp_path / "verdict.json"
    env = {**os.environ, "MQTT_SURGE_VERDICT_JSON": str(verdict)}
    result = subprocess.run(
        [LOCUST, "-f", f"locustfiles/{name}.py" if from_root else f"{name}.py", *args],
        # locustfiles/ picks up locustfiles/locust.conf, as the README says
        cwd=LOCUSTFILES.parent if from_root else LOCUSTFILES,
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
    output = result.stdout + result.stderr
    data = json.loads(verdict.read_text()) if verdict.exists() else {}
    return result.returncode, output, data


def passing_locust(name: str, tmp_path: Path, *args: str, **kwargs: bool) -> tuple[str, dict]:
    """:func:`run_locust`, which must pass: every check, and exit code 0."""
    code, output, data = run_locust(name, tmp_path, *args, **kwargs)
    assert _failed(data) == [], output[-3000:]
    assert code == 0
    return output, data


def _failed(data: dict) -> list[str]:
    return [c["name"] for c in data.get("checks", []) if not c["passed"]]


def test_throughput_passes(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    code, output, data = run_locust(
        "throughput", tmp_path, "--run-time", "4s", "--html", str(report)
    )
    assert "mqtt-surge verdict" in output
    assert "MQTT-RECV" in report.read_text()  # the HTML report has the receiving side too
    assert _failed(data) == [], output[-3000:]
    assert code == 0
    assert data["sent"] > 0
    assert data["stats"]["received"] >= data["sent"]
    assert data["probe_engine"] == "paho"  # the default


def test_the_raw_client_passes_at_ten_times_the_default_rate(tmp_path: Path) -> None:
    # 2 users x 3,000 msg/s (the default is 2 x 300): the documented way to load harder
    _output, data = passing_locust(
        "throughput", tmp_path, "--run-time", "4s", "--mqtt-client", "raw", "--mqtt-rate", "3000"
    )
    # more than the default pace could have sent in the whole run (2 x 300 x 4 s), with room
    # for a loaded machine: the pace was lifted, and every message was still checked
    assert data["sent"] > 2 * 300 * 4
    assert data["stats"]["received"] >= data["sent"]


def test_a_failing_threshold_fails_the_run(tmp_path: Path) -> None:
    code, output, data = run_locust(
        "throughput", tmp_path, "--run-time", "3s", "--check-min-rate", "10000000"
    )
    assert _failed(data) == ["receive rate"]
    assert code == 1
    assert "FAIL" in output


def test_losses_fail_the_throughput_run(tmp_path: Path) -> None:
    # a probe that cannot keep up and drops: the lossless check must catch it
    code, _, data = run_locust(
        "throughput",
        tmp_path,
        "--run-time",
        "3s",
        "--probe-max-queue-size",
        "10",
        "--probe-callback-ms",
        "20",
        "--probe-worker-threads",
        "1",
    )
    assert "nothing lost" in _failed(data)
    assert code == 1


# two short bursts: enough for drops and for the newest-survive check, quick to run
BURSTS = ("--bursts", "2", "--burst-period", "3", "--burst-size", "1000")


@pytest.mark.parametrize("probe_engine", ["paho", "gmqtt"])
def test_drop_oldest_passes(tmp_path: Path, probe_engine: str) -> None:
    code, output, data = run_locust(
        "drop_oldest", tmp_path, *BURSTS, "--probe-engine", probe_engine
    )
    assert data["probe_engine"] == probe_engine
    assert _failed(data) == [], output[-3000:]
    assert code == 0
    assert data["stats"]["dropped"] > 0
    # the project's defaults set nothing a LoadTestShape ignores (Locust would warn)
    assert "no impact on LoadShapes" not in output


def test_drop_oldest_catches_the_wrong_policy(tmp_path: Path) -> None:
    code, _, data = run_locust("drop_oldest", tmp_path, *BURSTS, "--probe-overflow", "drop_newest")
    assert _failed(data) == ["newest survive each burst"]
    assert code == 1


def test_graceful_shutdown_passes(tmp_path: Path) -> None:
    _output, data = passing_locust("graceful_shutdown", tmp_path, "--run-time", "6s")
    final = data["final"]
    assert final["threads_left"] == []
    assert final["stats"]["abandoned"] == 0


def test_graceful_shutdown_catches_a_short_stop_timeout(tmp_path: Path) -> None:
    # a stop timeout too short to drain what is buffered leaves messages abandoned
    code, _, data = run_locust(
        "graceful_shutdown",
        tmp_path,
        "--run-time",
        "6s",
        "--probe-stop-timeout",
        "0.2",
        "--probe-callback-ms",
        "20",
    )
    assert "nothing abandoned" in _failed(data)
    assert code == 1


def test_processes_2_is_judged_on_the_master(tmp_path: Path) -> None:
    output, _data = passing_locust("throughput", tmp_path, "--run-time", "4s", "--processes", "2")
    assert output.count("mqtt-surge verdict") == 1


def test_your_callback_and_options_under_load(tmp_path: Path) -> None:
    _output, data = passing_locust(
        "throughput",
        tmp_path,
        "--run-time",
        "3s",
        "--probe-callback",
        "examples.app.handlers:on_reading",
        "--probe-option",
        "worker_threads=8",
        "--probe-option",
        "ordered='topic'",
        from_root=True,
    )
    options = data["probe_options"]
    assert options["callback"] == "examples.app.handlers:on_reading"
    assert options["option"] == ["worker_threads=8", "ordered='topic'"]
    assert data["stats"]["processed"] >= data["sent"] > 0
    assert data["callback_errors"]["count"] == 0


def test_a_failing_callback_fails_the_run_and_shows_why(tmp_path: Path) -> None:
    code, output, data = run_locust(
        "throughput",
        tmp_path,
        "--run-time",
        "3s",
        "--probe-callback",
        "examples.app.handlers:on_reading_json",
        from_root=True,
    )
    assert _failed(data) == ["the callback raised nothing"]
    assert code == 1
    errors = data["callback_errors"]
    assert errors["count"] == data["stats"]["failed"] > 0
    # the handler's own traceback (a binary payload is not JSON: a decode error of some kind)
    assert "in on_reading_json" in errors["first"][0]
    assert "DecodeError" in errors["first"][0]
    assert "the callback raised" in output  # the verdict shows the first tracebacks


def test_the_probe_spread_over_processes(tmp_path: Path) -> None:
    output, data = passing_locust(
        "throughput",
        tmp_path,
        "--run-time",
        "3s",
        "--probe-callback",
        "examples.app.handlers:on_reading",
        "--probe-option",
        "processes=2",
        from_root=True,
    )
    assert data["stats"]["processed"] >= data["sent"] > 0
    each = data["final"]["process_stats"]
    assert len(each) == 2
    assert all(s["processed"] > 0 for s in each), each  # both children took a share
    assert sum(s["processed"] for s in each) == data["stats"]["processed"]
    assert "processed per probe process: " in output


def test_processes_on_a_broker_without_shared_subscriptions_stop_the_run(
    tmp_path: Path,
) -> None:
    code, output, data = run_locust(
        "throughput", tmp_path, "--mqtt-broker", "amqtt", "--probe-option", "processes=2"
    )
    assert code != 0
    assert "--mqtt-broker amqtt lacks shared_subscriptions" in output
    assert data == {}


def test_a_bad_probe_option_stops_the_run_before_it_starts(tmp_path: Path) -> None:
    code, output, data = run_locust(
        "throughput",
        tmp_path,
        "--run-time",
        "3s",
        "--probe-option",
        "worker_threads=0",
        from_root=True,
    )
    assert code != 0
    assert "worker_threads must be an int >= 1, got 0" in output
    assert data == {}  # no run, no verdict


def test_a_fleet_of_devices_each_with_its_own_connection(tmp_path: Path) -> None:
    output, data = passing_locust(
        "fleet", tmp_path, "--run-time", "4s", "--users", "3", "--mqtt-fleet-devices", "40"
    )
    final = data["final"]
    assert final["stats"]["received"] >= data["sent"] >= 120  # 120 devices, a round each at least
    assert "MQTT-FLEET" in output  # connect and publish rows in Locust's statistics


def test_fan_out_each_subscriber_gets_every_message(tmp_path: Path) -> None:
    _output, data = passing_locust("fanout", tmp_path, "--run-time", "3s")
    assert data["probe_options"]["subscribers"] == 3
    assert data["stats"]["received"] >= 3 * data["sent"] > 0


def test_fan_out_catches_a_subscriber_that_drops(tmp_path: Path) -> None:
    # each subscriber drops the oldest of a 5-message buffer behind a 5 ms callback
    code, _, data = run_locust(
        "fanout",
        tmp_path,
        "--run-time",
        "3s",
        "--probe-max-queue-size",
        "5",
        "--probe-callback-ms",
        "5",
        "--mqtt-rate",
        "0",
    )
    assert "every subscriber got every message" in _failed(data)
    assert code == 1


@pytest.mark.parametrize(
    ("carrier", "engine", "found_in", "client"),
    [("properties", "gmqtt", "properties", "paho"), ("field:seq", "paho", "field", "paho")],
)
def test_your_own_payloads_keep_the_checks(
    tmp_path: Path, carrier: str, engine: str, found_in: str, client: str
) -> None:
    _output, data = passing_locust(
        "telemetry",
        tmp_path,
        "--run-time",
        "3s",
        "--mqtt-sequence-in",
        carrier,
        "--probe-engine",
        engine,
        "--mqtt-client",
        client,
    )
    assert data["final"]["sequenced_by"] == {found_in: data["stats"]["received"]}
    assert data["stats"]["received"] >= data["sent"] > 0


def test_a_json_handler_passes_on_json_telemetry(tmp_path: Path) -> None:
    # the handler that fails on the suite's binary payloads, on payloads of its own kind
    _output, data = passing_locust(
        "telemetry",
        tmp_path,
        "--run-time",
        "3s",
        "--probe-callback",
        "examples.app.handlers:on_reading_json",
        from_root=True,
    )
    assert data["stats"]["processed"] >= data["sent"] > 0
