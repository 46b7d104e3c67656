"""The frozen snapshot of a subscriber's counters."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True)
class Stats:
    """Counters at one instant. Always ``received == processed + failed + dropped + abandoned +
    queued + in_flight`` (see :attr:`accounted`).

    - ``received``: handed to us by the transport.
    - ``processed`` / ``failed``: the callback returned / raised.
    - ``dropped``: evicted by the overflow policy (the oldest with ``drop_oldest``).
    - ``abandoned``: given up at stop (still queued at the drain timeout, or arrived after intake
      stopped).
    - ``queued``: in the buffer now; ``in_flight``: taken by a worker, not finished yet.
    - ``max_queue_depth``: the deepest the buffer has been; ``reconnects``: connections after
      the first.
    - ``queue_full_warnings`` / ``overloaded_warnings``: how many :class:`QueueFullWarning` /
      :class:`WorkersOverloadedWarning` were issued (rate-limited: one may stand for many
      events; the counters above count every message).
    """

    received: int = 0
    processed: int = 0
    failed: int = 0
    dropped: int = 0
    abandoned: int = 0
    queued: int = 0
    in_flight: int = 0
    max_queue_depth: int = 0
    reconnects: int = 0
    queue_full_warnings: int = 0
    overloaded_warnings: int = 0

    @property
    def accounted(self) -> bool:
        """Whether every received message is in exactly one state."""
        return self.received == (
            self.processed
            + self.failed
            + self.dropped
            + self.abandoned
            + self.queued
            + self.in_flight
        )


def add_up(each: list[Stats]) -> Stats:
    """Counters of several subscribers as one (the deepest queue: the deepest of them); the
    invariant holds for the sum when it holds for each."""
    if not each:
        return Stats()
    total = {f.name: sum(getattr(s, f.name) for s in each) for f in dataclasses.fields(Stats)}
    total["max_queue_depth"] = max(s.max_queue_depth for s in each)
    return Stats(**total)
