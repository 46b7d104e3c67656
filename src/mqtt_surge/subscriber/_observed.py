"""Callbacks that report each outcome: the ``observer=`` option.

Each callback is wrapped: it runs, then ``report(message, when it began, what it raised or
None)``. In one process the report is the observer itself; in a child of a process group it is
the child's outbox, which relays it to the observer in the parent.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from ._checks import is_async_callable
from ._message import Message
from ._options import Observer, SubscriberOptions


class Observed:
    """A callback whose outcome is reported."""

    def __init__(self, callback: Callable[[Message], Any], report: Observer) -> None:
        self.callback = callback
        self.report = report

    def __call__(self, message: Message) -> Any:
        started = time.time()
        try:
            result = self.callback(message)
        except BaseException as exc:
            self.report(message, started, exc)
            raise
        self.report(message, started, None)
        return result


class AsyncObserved(Observed):
    """:class:`Observed` for an ``async def`` callback (a coroutine function itself, so the
    subscriber runs it on its event loop)."""

    async def __call__(self, message: Message) -> Any:
        started = time.time()
        try:
            result = await self.callback(message)
        except BaseException as exc:
            self.report(message, started, exc)
            raise
        self.report(message, started, None)
        return result


def observed(callback: Callable[[Message], Any], report: Observer) -> Observed:
    return (
        AsyncObserved(callback, report)
        if is_async_callable(callback)
        else Observed(callback, report)
    )


def ignore(message: Message) -> None:
    """The callback when only the observer has work to do."""


def reporting(options: SubscriberOptions, report: Observer) -> SubscriberOptions:
    """``options`` whose every callback reports to ``report`` (and whose observer is spent)."""
    callback = options.callback
    return dataclasses.replace(
        options,
        callback=observed(callback, report) if callback is not None else None,
        callbacks={name: observed(fn, report) for name, fn in options.routes} or None,
        observer=None,
    )
