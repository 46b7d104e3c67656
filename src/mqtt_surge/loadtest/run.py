"""What a load run produced, as the checks see it, and what this process published."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from ..testing.sequence import against_sent


class Sent:
    """Messages published by this process, per publisher id: the users add to it (a message
    counts once acknowledged, or written for QoS 0), the judge reads it, and a worker sends the
    master what was added since its last report."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # gevent makes it a greenlet lock in a Locust process
        self._counts: dict[int, int] = {}
        self._reported: dict[int, int] = {}

    def add(self, publisher_id: int, count: int = 1) -> None:
        with self._lock:
            self._counts[publisher_id] = self._counts.get(publisher_id, 0) + count

    def snapshot(self) -> dict[int, int]:
        with self._lock:
            return dict(self._counts)

    def since_report(self) -> dict[str, int]:
        """What was added since the last call, keyed for JSON (a worker's report)."""
        with self._lock:
            added = {str(pid): n - self._reported.get(pid, 0) for pid, n in self._counts.items()}
            self._reported = dict(self._counts)
            return added

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()
            self._reported.clear()


# this process's publishers (one Locust process, one tally)
SENT = Sent()

# the project's locustfiles run short and small unless told otherwise; each one whose users are
# not driven by a LoadTestShape takes these as its defaults (a shape ignores them, and Locust
# warns when they are set for one, so they are not in locust.conf)
SHORT_RUN = {"num_users": 2, "spawn_rate": 2, "run_time": "10s"}


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

    def lost(self, subscriber: int | None = None) -> int:
        """Messages sent (acknowledged, or written at QoS 0) that the probe never processed: per
        publisher, sequences 0..n-1 were sent, and each must have arrived (one whose PUBACK a
        stopping user never saw may arrive too: that is not a loss). ``subscriber``: that one of
        a fan-out probe's subscribers."""
        final = self.final or {}
        if subscriber is None:
            publishers = final.get("publishers", {})
        else:
            publishers = final.get("fanout_publishers", [{}])[subscriber]
        return against_sent(self.sent, publishers)[0]

    def arrived_unacknowledged(self) -> int:
        """Messages that arrived beyond what their publishers counted as sent: published, but
        their PUBACK had not come back when the users stopped."""
        return against_sent(self.sent, (self.final or {}).get("publishers", {}))[1]

    def max_queue_depth(self) -> int:
        return max((r["stats"]["max_queue_depth"] for r in self.reports if "stats" in r), default=0)

    def peak_rss_mb(self) -> float:
        peak = max((r.get("peak_rss_kb", 0) for r in self.reports), default=0)
        return float(peak) / 1024

    def idle_rss_mb(self) -> float:
        return float(self.ready.get("idle_rss_kb", 0)) / 1024
