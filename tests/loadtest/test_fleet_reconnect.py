"""A fleet device the broker drops connects again: Locust in a subprocess against a broker of the
test's own, which drops devices while the run goes on. Its own file so that CI runs it beside the
conformance cases (its broker, client ids and files are its own)."""

from __future__ import annotations

import csv
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from mqtt_surge import EmbeddedBroker

from .._support import wait_until
from .test_locustfiles import LOCUST, LOCUSTFILES

pytestmark = pytest.mark.slow
HARD = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
# Locust started with a soft limit of 256 open files (as on many systems: 1,024)
LOW_SOFT_LIMIT = (
    "import os, resource, sys\n"
    "hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]\n"
    "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n"
)


def test_a_device_the_broker_drops_connects_again(tmp_path: Path) -> None:
    # a broker of the test's own, so that the test can drop devices while Locust runs
    with EmbeddedBroker() as broker:
        proc = subprocess.Popen(
            [sys.executable, "-c", LOW_SOFT_LIMIT, LOCUST, "-f", "fleet.py",
             "--host", broker.url.full, "--users", "1", "--spawn-rate", "1",
             "--mqtt-fleet-devices", "20", "--run-time", "60s",
             "--no-probe", "--csv", str(tmp_path / "s")],
            cwd=LOCUSTFILES, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:

            def fleet() -> list[str]:
                return [c.client_id for c in broker.clients if c.client_id.startswith("fleet-")]

            wait_until(lambda: len(fleet()) == 20, timeout=60, what="20 devices connected")
            dropped = sorted(fleet())[:5]
            for client_id in dropped:
                broker.faults.disconnect(client_id)  # a lost link: no DISCONNECT
            for client_id in dropped:
                broker.wait_disconnected(client_id)
            wait_until(lambda: set(dropped) <= set(fleet()), timeout=60, what="the 5 back")
        finally:
            proc.terminate()  # Locust stops its users and writes its statistics
            _, err = proc.communicate(timeout=60)
    with open(tmp_path / "s_stats.csv") as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    assert int(rows["connect"]["Request Count"]) == 20, err[-2000:]
    # and it said that it raised the limit to the hard one (from where Locust's own start, which
    # lifts it to 10,000 where it can, left it; at a hard limit of 10,000 nothing is left to do)
    if HARD > 10_000:
        assert re.search(rf"open-file limit raised from \d+ to {HARD} \(the hard limit\)", err)
    assert int(rows["reconnect"]["Request Count"]) >= 5
    assert int(rows["reconnect"]["Request Count"]) - int(rows["reconnect"]["Failure Count"]) == 5
