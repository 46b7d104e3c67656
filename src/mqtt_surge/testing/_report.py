"""What the plugin adds to a test's report: the broker's packets for a failing test (the way
pytest shows captured logs), and the exceptions raised in subscriber callbacks."""

from __future__ import annotations

import traceback
from typing import Any

from ..mqtt import topics

SHOWN = 30  # the last packets shown: enough to see a conversation, short enough to read


def packets_section(item: Any) -> tuple[str, str] | None:
    """(title, text) of the last packets the test's broker saw under the test's topic prefix
    (``mqtt_topic``), or None when there is nothing to show."""
    funcargs = getattr(item, "funcargs", {})
    broker, prefix = funcargs.get("mqtt_broker"), funcargs.get("mqtt_topic")
    log: Any = getattr(broker, "packets", None)
    if not hasattr(log, "latest") or not isinstance(prefix, str):
        return None  # a broker that records no packets, or a test without its own topics
    under = f"{prefix}/#"

    def ours(r: Any) -> bool:
        return bool(r.topic and topics.matches(under, r.topic)) or any(
            f.startswith(prefix) for f, _, _ in r.subscriptions
        )

    records = log.latest(ours, SHOWN)
    if not records:
        return None
    lines = [str(r) for r in records]
    return f"mqtt-surge: the broker's packets under {prefix}/", "\n".join(lines)


def callback_errors(new: list[tuple[Any, BaseException]]) -> str:
    """The failure text for exceptions raised in ``mqtt_subscriber`` callbacks."""
    lines = [
        f"{len(new)} exception(s) raised in mqtt_subscriber callbacks "
        "(they run on worker threads, so the test itself did not see them):"
    ]
    for sub, error in new[:5]:
        filters = ", ".join(f for f, _ in sub.topics)
        lines.append(f"  [{filters}] {type(error).__name__}: {error}")
    lines.append("\nThe first one:")
    lines.append("".join(traceback.format_exception(new[0][1])).rstrip())
    return "\n".join(lines)
