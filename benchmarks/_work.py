"""Callbacks for benchmarks that run in child processes (processes=N): importable by name."""

from __future__ import annotations

import time

from mqtt_surge import Message

SPIN = 6000  # iterations of the loop below: about 200 us on this machine


def cpu_bound(message: Message) -> None:
    """About 200 us of pure-Python work (holds the GIL)."""
    total = 0
    for i in range(SPIN):
        total += i * i


def io_bound(message: Message) -> None:
    """A 1 ms wait, as for a database write (releases the GIL)."""
    time.sleep(0.001)  # simulated I/O
