"""The processes a load run supervises: a local broker, and the probe (the subscriber under test).

Both run outside the Locust process, which gevent has patched. The broker prints its URL once it
answered a CONNECT; the probe prints JSON lines (ready, reports, final; see
:mod:`mqtt_surge.probe`), which :class:`ProbeProcess` reads into the run's :class:`RunData`.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import gevent

from ..probe.options import probe_argv
from ..runtime import children as _children
from .run import RunData


class BrokerProcess:
    """``mqtt-surge broker --engine ENGINE`` in a child process, stopped with SIGTERM."""

    def __init__(self, engine: str) -> None:
        self._proc = _children.popen(
            [sys.executable, "-m", "mqtt_surge", "broker", "--engine", engine],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        line = str(self._proc.stdout.readline()).strip()  # printed once it answered a CONNECT
        if not line:
            raise RuntimeError(f"the {engine} broker did not start (exit code {self._proc.wait()})")
        self.url = line

    def stop(self, timeout: float = 15.0) -> None:
        self._proc.send_signal(signal.SIGTERM)
        self._proc.wait(timeout)


SETTLE = 0.5  # seconds with nothing new after the count is reached: the drain is over


class ProbeProcess:
    """``mqtt-surge probe`` in a child process; its reports go into ``run`` as they come, and
    each sampled latency to ``on_sample(ms, topic)``."""

    def __init__(
        self,
        url: str,
        topic: str,
        options: Mapping[str, Any],
        run: RunData,
        on_sample: Callable[[float, str], None],
    ) -> None:
        self.run = run
        self._on_sample = on_sample
        self._proc = _children.popen(
            [sys.executable, "-m", "mqtt_surge", "probe", *probe_argv(url, topic, options)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        ready = self._proc.stdout.readline()
        if not ready:
            raise RuntimeError(f"the probe did not start (exit code {self._proc.wait()})")
        run.ready = json.loads(ready)
        self._reader = gevent.spawn(self._read)

    def _read(self) -> None:
        proc, run = self._proc, self.run
        assert proc.stdout is not None
        for line in proc.stdout:
            data = json.loads(line)
            if data["event"] == "final":
                run.final = data
            else:
                run.reports.append(data)
            # sampled, at most --samples per report: one event per message would cost the
            # Locust process as much as the publishing; the exact counts come from the counters
            for ms, topic in data.pop("samples", []):
                self._on_sample(ms, topic)
        run.probe_exit_code = proc.wait()
        run.probe_exited_at = time.time()

    def signal_stop(self) -> None:
        """SIGTERM, once: the probe stops gracefully and reports its final counts."""
        if self._proc.poll() is None and self.run.probe_signalled_at is None:
            self.run.probe_signalled_at = time.time()
            self._proc.send_signal(signal.SIGTERM)

    def finish(self, *, timeout: float, idle: float, stop_timeout: float) -> None:
        """Let the probe receive what is still on its way (until it has all the run sent, stalls
        for ``idle`` seconds, or ``timeout`` passes), then stop it and read its last words."""
        run, proc = self.run, self._proc
        copies = int(run.ready.get("options", {}).get("subscribers") or 1)  # fan-out
        deadline = time.monotonic() + timeout
        progress_at, last_received = time.monotonic(), -1
        while proc.poll() is None and time.monotonic() < deadline:
            stats = run.stats
            received = stats.get("received", 0)
            if received != last_received:
                progress_at, last_received = time.monotonic(), received
            quiet = time.monotonic() - progress_at
            # the count alone is not enough: messages published but not yet acknowledged when
            # the run ended count too, while acknowledged ones may still be on their way (a
            # shared subscription's other member): done once it is reached and nothing more
            # has come for a moment
            if received >= run.total_sent * copies and stats.get("queued", 1) == 0:
                if quiet > SETTLE:
                    break
            elif quiet > idle:
                break
            gevent.sleep(0.1)  # pace: the probe reports every 0.25 s
        self.signal_stop()
        try:
            proc.wait(stop_timeout + 10)
        except subprocess.TimeoutExpired:
            proc.kill()
        self._reader.join(timeout=10)
