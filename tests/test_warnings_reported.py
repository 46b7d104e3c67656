"""Each warning is reported once, at the user's line, as a fresh Python process shows it: no
logging set up, Python's default warning filters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LOOP_APP = """\
import asyncio
from mqtt_surge import EmbeddedBroker, Subscriber


async def main():
    with EmbeddedBroker() as broker:
        sub = Subscriber(broker.url, "t/#", lambda m: None)
        sub.start()  # START LINE
        sub.stop()


asyncio.run(main())
"""

FULL_APP = """\
import threading
from mqtt_surge import Subscriber
from mqtt_surge.transports.fake import FakeBroker

gate = threading.Event()
fake = FakeBroker()
sub = Subscriber(  # MADE LINE
    "fake", "sensors/#", lambda m: gate.wait(10), max_queue_size=1, worker_threads=1,
    client_id="kitchen", engine=fake,
).start()
for i in range(5):
    fake.publish("sensors/1", b"x")
gate.set()
sub.stop()
"""


def _run(tmp_path: Path, code: str) -> tuple[str, str]:
    script = tmp_path / "app.py"
    script.write_text(code)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True
    )
    return str(script), done.stderr


def _line_of(code: str, marker: str) -> int:
    return next(i for i, line in enumerate(code.splitlines(), 1) if marker in line)


def test_a_warning_caused_by_a_call_is_reported_once_at_the_callers_line(tmp_path: Path) -> None:
    script, stderr = _run(tmp_path, LOOP_APP)
    assert stderr.count("Detected asyncio event loop") == 1, stderr
    assert f"{script}:{_line_of(LOOP_APP, 'START LINE')}: AsyncioLoopWarning" in stderr, stderr
    assert "mqtt_surge" not in stderr.split("AsyncioLoopWarning")[0], stderr


def test_a_warning_from_a_background_thread_names_the_subscriber_and_its_line(
    tmp_path: Path,
) -> None:
    script, stderr = _run(tmp_path, FULL_APP)
    assert stderr.count("Message queue full") == 1, stderr
    assert f"{script}:{_line_of(FULL_APP, 'MADE LINE')}: QueueFullWarning" in stderr, stderr
    assert "subscriber 'kitchen' on sensors/#" in stderr, stderr
