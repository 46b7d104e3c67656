"""capture_signals: the commands' SIGINT/SIGTERM as an event, and the old handlers back after."""

from __future__ import annotations

import os
import signal

from mqtt_surge.runtime.signals import capture_signals


def test_a_signal_sets_the_event_and_the_old_handlers_come_back() -> None:
    seen: list[int] = []

    def before(signum: int, _frame: object) -> None:
        seen.append(signum)

    previous = signal.signal(signal.SIGTERM, before)
    try:
        with capture_signals() as stop:
            assert not stop.is_set()
            os.kill(os.getpid(), signal.SIGTERM)  # delivered before kill() returns to us
            assert stop.wait(5)
        assert seen == []  # the capture took it, not the handler that was there
        assert signal.getsignal(signal.SIGTERM) is before
        os.kill(os.getpid(), signal.SIGTERM)
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_only_the_signals_named_are_taken() -> None:
    int_handler = signal.getsignal(signal.SIGINT)
    with capture_signals(signal.SIGTERM):
        assert signal.getsignal(signal.SIGINT) is int_handler
    assert signal.getsignal(signal.SIGINT) is int_handler
