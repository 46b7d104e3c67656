"""What clients published, seen from the embedded broker's side (``mqtt_capture``): nothing is
missed and no subscription is needed, because the broker records every packet it is sent."""

from __future__ import annotations

import copy
import time
from typing import Any

from ..mqtt import topics
from ..runtime.errors import ConfigError
from ..subscriber._message import validate_filter


class Capture:
    """The PUBLISH packets clients sent to the broker since the capture began, on
    ``topic_filter``. ``on(filter)`` narrows it; ``wait_for`` waits on the broker's signal;
    ``assert_nothing`` checks that nothing matching arrives within a time."""

    def __init__(self, broker: Any, topic_filter: str = "#", since: int | None = None) -> None:
        log = getattr(broker, "packets", None)
        if log is None or not hasattr(log, "wait_until"):
            raise ConfigError(
                f"{broker!r} does not record packets: capture needs the embedded broker "
                "(--mqtt-broker=embedded, or a test marked mqtt_broker(needs=['packet_capture']))"
            )
        self._log = log
        self.filter = validate_filter(topic_filter)
        self.filters: tuple[str, ...] = (topic_filter,)  # a message must match every one
        self.since = log.last_seq if since is None else since

    def _matching(self, records: list[Any], topic_filter: str = "#") -> list[Any]:
        return [
            r
            for r in records
            if r.type == "PUBLISH"
            and r.direction == "in"
            and r.topic
            and all(topics.matches(f, r.topic) for f in (*self.filters, topic_filter))
        ]

    @property
    def messages(self) -> list[Any]:
        """The PUBLISH records (``.topic``, ``.payload``, ``.qos``, ``.retain``, ``.dup``,
        ``.properties``, ``.client_id``, ``.time``), oldest first."""
        return self._matching(self._log.since(self.since))

    def on(self, topic_filter: str) -> Capture:
        """The same capture, on the topics ``topic_filter`` matches only."""
        narrower = copy.copy(self)
        narrower.filter = validate_filter(topic_filter)
        narrower.filters = (*self.filters, topic_filter)
        return narrower

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[Any]:
        """The first ``count`` messages, once that many have arrived; ``AssertionError``
        listing what did arrive after ``timeout``."""
        found = self._log.wait_until(
            lambda records: m[:count] if len(m := self._matching(records)) >= count else None,
            timeout,
            self.since,
        )
        if found is None:
            got = self.messages
            raise AssertionError(
                f"expected {count} message(s) published on {self.filter!r} within {timeout:g}s, "
                f"the broker got {len(got)}: {[(m.topic, m.payload) for m in got][:10]}"
            )
        return list(found)

    def assert_nothing(self, topic_filter: str = "#", within: float = 0.5) -> None:
        """Fail if a client publishes on ``topic_filter`` (within this capture's) before
        ``within`` seconds pass, or did since the capture began."""
        deadline = time.monotonic() + within
        found = self._log.wait_until(
            lambda records: self._matching(records, topic_filter),
            max(deadline - time.monotonic(), 0.0),
            self.since,
        )
        if found:
            raise AssertionError(
                f"expected nothing published on {topic_filter!r}, the broker got "
                f"{[(m.topic, m.payload) for m in found][:10]}"
            )

    def __repr__(self) -> str:
        return f"<Capture {self.filter!r}: {len(self.messages)} message(s)>"
