"""Checks that decide a load run's exit code, and the verdict: a table on stdout and JSON."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from locust.env import Environment

from .run import RunData

VERDICT_ENV = "MQTT_SURGE_VERDICT_JSON"


@dataclasses.dataclass
class Check:
    """One pass/fail check: ``measure(run)`` returns ``(measured text, passed)``."""

    name: str
    threshold: Callable[[Any], str]
    measure: Callable[[RunData], tuple[str, bool]]


CHECKS: list[Check] = []


def check(name: str, threshold: Callable[[Any], str] | str) -> Callable[..., Any]:
    """Register a check for this run (decorator): ``@check("nothing lost", "received == sent")``.

    The decorated function gets a :class:`RunData` and returns ``(measured, passed)``;
    ``threshold`` is text, or a function of the parsed options that makes it.
    """

    def register(
        fn: Callable[[RunData], tuple[str, bool]],
    ) -> Callable[[RunData], tuple[str, bool]]:
        describe = threshold if callable(threshold) else (lambda _o, t=threshold: t)
        CHECKS.append(Check(name, describe, fn))
        return fn

    return register


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def verdict(environment: Environment, run: RunData) -> bool:
    """Print the verdict table; True if every check passed."""
    rows = []
    for item in CHECKS:
        try:
            measured, ok = item.measure(run)
        except Exception as exc:  # a check that cannot measure has failed, visibly
            measured, ok = f"error: {exc!r}", False
        rows.append((item.name, item.threshold(run.options), measured, ok))
    header = ("check", "threshold", "measured", False)
    callback = (run.ready.get("options") or {}).get("callback")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(3)]
    lines = [
        "",
        f"mqtt-surge verdict (probe engine: {run.ready.get('engine', '-')}"
        + (f", callback: {callback}" if callback else "")
        + ")",
        f"{'check':<{widths[0]}}  {'threshold':<{widths[1]}}  {'measured':<{widths[2]}}  result",
    ]
    for name, threshold, measured, ok in rows:
        lines.append(
            f"{name:<{widths[0]}}  {threshold:<{widths[1]}}  {measured:<{widths[2]}}  "
            f"{'PASS' if ok else 'FAIL'}"
        )
    stats = run.stats
    lines.append(
        f"sent {run.total_sent}, received {stats.get('received')}, processed "
        f"{stats.get('processed')}, dropped {stats.get('dropped')}, abandoned "
        f"{stats.get('abandoned')}, receive rate {run.receive_rate():.0f} msg/s, p99 "
        f"{_ms(run.last.get('latency_ms', {}).get('p99'))} ms"
    )
    shares = (run.final or {}).get("process_stats")
    if shares:  # --probe-option processes=N: each child's share
        lines.append(
            f"processed per probe process: {', '.join(str(s['processed']) for s in shares)}"
        )
    errors = run.last.get("callback_errors") or {}
    if errors.get("first"):
        lines.append(
            f"the callback raised {errors.get('count')} time(s); the first {len(errors['first'])}:"
        )
        lines += [f"  {line}" for trace in errors["first"] for line in trace.splitlines()]
    text = "\n".join(lines)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    write_verdict(
        {
            "checks": [
                {"name": n, "threshold": t, "measured": m, "passed": ok} for n, t, m, ok in rows
            ],
            "sent": run.total_sent,
            "probe_engine": run.ready.get("engine"),
            "probe_options": run.ready.get("options"),
            "stats": stats,
            "receive_rate": run.receive_rate(),
            "latency_ms": run.last.get("latency_ms"),
            "callback_errors": run.last.get("callback_errors"),
            "final": {k: v for k, v in (run.final or {}).items() if k != "publishers"},
        }
    )
    return all(ok for *_, ok in rows)


def publish_only_summary(run: RunData) -> None:
    """What a ``--no-probe`` run reports: how many were sent, and no checks."""
    sys.stdout.write(f"\nmqtt-surge: --no-probe: {run.total_sent} messages sent; no checks\n")
    write_verdict({"sent": run.total_sent, "checks": []})


def write_verdict(data: dict[str, Any]) -> None:
    """The verdict as JSON, where ``$MQTT_SURGE_VERDICT_JSON`` says (if it says)."""
    report_path = os.environ.get(VERDICT_ENV)
    if report_path:
        with open(report_path, "w") as out:
            json.dump(data, out, indent=2)


@check("the callback raised nothing", "failed == 0")
def _callback_raised_nothing(run: RunData) -> tuple[str, bool]:
    # every run's first check: a handler under test (--probe-callback) that raises fails the run
    failed = int(run.stats.get("failed", 0))
    return f"{failed} failed", failed == 0
