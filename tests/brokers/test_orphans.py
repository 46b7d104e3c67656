"""Broker children die with their owner: SIGKILL and SIGTERM of the owner leave no process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mqtt_surge import MosquittoBroker

from .._support import WAIT, roundtrip, wait_until

OWNER = """
import threading
from mqtt_surge import MosquittoBroker
broker = MosquittoBroker().start()
print(broker.pid, flush=True)
threading.Event().wait()
"""


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting for a reaper (in a container PID 1 may never reap)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_mosquitto_dies_with_its_owner(sig: int) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert owner.stdout is not None
        pid = int(owner.stdout.readline())
        assert alive(pid)
        owner.send_signal(sig)
        owner.wait(WAIT)
        wait_until(lambda: not alive(pid), what=f"mosquitto pid {pid} gone after its owner died")
    finally:
        if owner.poll() is None:
            owner.kill()


def test_a_broker_started_on_a_short_lived_thread_outlives_that_thread() -> None:
    """The kernel's parent-death signal follows the thread that forked: our children are forked
    from a thread that lives as long as the process."""
    broker = MosquittoBroker()
    starter = threading.Thread(target=broker.start)
    starter.start()
    starter.join()
    try:
        assert broker.pid is not None
        assert alive(broker.pid)
        assert roundtrip(broker.url) == b"hello"
    finally:
        broker.stop()


def test_load_suite_children_die_with_a_killed_locust(tmp_path: Path) -> None:
    locustfiles = Path(__file__).parents[2] / "locustfiles"
    locust = Path(sys.executable).with_name("locust")
    env = {**os.environ, "MQTT_SURGE_VERDICT_JSON": str(tmp_path / "verdict.json")}
    run = subprocess.Popen(
        [str(locust), "-f", "throughput.py", "--run-time", "60s", "--mqtt-broker", "mosquitto"],
        cwd=locustfiles,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # the broker CLI, its mosquitto and the probe: wait until all three run
        wait_until(
            lambda: (
                len(children_of(run.pid)) >= 2 and any(children_of(c) for c in children_of(run.pid))
            ),
            timeout=60,
            what="locust started its broker and probe",
        )
        family = children_of(run.pid)
        family += [g for c in family for g in children_of(c)]
        run.kill()
        run.wait(WAIT)
        wait_until(
            lambda: not any(alive(p) for p in family),
            what=f"no child of the killed locust left (of {family})",
        )
    finally:
        if run.poll() is None:
            run.kill()
