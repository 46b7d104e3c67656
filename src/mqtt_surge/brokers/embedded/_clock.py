"""The embedded broker's clock: what keepalive, session expiry, message expiry, will delay and the
CONNECT timeout are measured on. Real (``time.monotonic``) by default; ``clock="manual"`` gives
one that moves only when a test advances it, so "the session expires after 300 s" runs in
milliseconds and the same every time.

What no broker clock can move: the client's own timers (its keepalive PINGREQs, its retries, its
reconnect back-off) run on the client's real time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ...runtime.errors import ConfigError

CLOCKS = ("real", "manual")


class Clock:
    """``now()`` in seconds (an attribute: the clock's reading function); :meth:`advance`
    moves a manual clock (the broker then does at once whatever the new time makes due: wills,
    expired sessions, silent clients closed)."""

    def __init__(self, kind: str = "real") -> None:
        if kind not in CLOCKS:
            raise ConfigError(f"clock must be 'real' or 'manual', got {kind!r}")
        self.kind = kind
        self._offset = 0.0
        self._frozen = time.monotonic()
        self._after_advance: Callable[[], None] | None = None
        # read several times per message: a real clock is time.monotonic itself, no call between
        self.now: Callable[[], float] = time.monotonic if kind == "real" else self._manual_now

    @property
    def manual(self) -> bool:
        return self.kind == "manual"

    def _manual_now(self) -> float:
        return self._frozen + self._offset

    def advance(self, seconds: float) -> float:
        """Move a manual clock ``seconds`` on; returns once the broker has acted on the new time.
        The new time."""
        if not self.manual:
            raise ConfigError(
                "this broker runs on real time: start it with clock='manual' "
                "(EmbeddedBroker(clock='manual'), mqtt_broker_factory(clock='manual'))"
            )
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise ConfigError(f"advance() takes seconds >= 0, got {seconds!r}")
        self._offset += float(seconds)
        if self._after_advance is not None:
            self._after_advance()
        return self.now()

    def on_advance(self, callback: Callable[[], None] | None) -> None:
        """What the broker runs after each advance (its sweep, on its own loop)."""
        self._after_advance = callback

    def __repr__(self) -> str:
        return f"<Clock {self.kind} now={self.now():.3f}>"
