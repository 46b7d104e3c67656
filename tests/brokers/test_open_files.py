"""A broker that holds a fleet needs a descriptor per client: the mosquitto the fixtures and the
load suite start gets its soft limit on open files raised to the hard limit, whatever the
starting process had (often 1,024 where the hard limit is far higher)."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from mqtt_surge.runtime.children import raise_open_files

HARD = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
CHILD = """
import resource, sys
from pathlib import Path
from mqtt_surge import MosquittoBroker
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
with MosquittoBroker() as broker:
    limits = Path(f"/proc/{broker.pid}/limits").read_text()
line = next(line for line in limits.splitlines() if line.startswith("Max open files"))
print(line.split()[3], resource.getrlimit(resource.RLIMIT_NOFILE)[0])
"""


@pytest.mark.skipif(HARD in (256, resource.RLIM_INFINITY), reason="no higher hard limit here")
def test_mosquitto_gets_the_hard_limit_its_starter_did_not_have() -> None:
    if not Path("/proc/self/limits").exists():
        pytest.skip("no /proc: the limit is read from there")
    out = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert out == [str(HARD), "256"]  # mosquitto's soft limit raised; its starter's unchanged


@pytest.mark.skipif(HARD in (256, resource.RLIM_INFINITY), reason="no higher hard limit here")
def test_raise_open_files_says_what_it_did() -> None:
    code = (
        "import resource\n"
        "from mqtt_surge.runtime.children import raise_open_files\n"
        "hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))\n"
        "print(*raise_open_files(), resource.getrlimit(resource.RLIMIT_NOFILE)[0])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert out == ["256", str(HARD), str(HARD)]
    assert raise_open_files() == (HARD, HARD)  # at the hard limit already: nothing changes
