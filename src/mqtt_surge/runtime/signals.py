"""SIGINT and SIGTERM as an event, for the commands that run until told to stop."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def capture_signals(*signals: signal.Signals) -> Iterator[threading.Event]:
    """Within the block, each of ``signals`` (SIGINT and SIGTERM by default) sets the event it
    yields instead of doing what it did; the handlers that were there come back at the end."""
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda _s, _f: stop.set()) for sig in signals or STOP_SIGNALS
    }
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
