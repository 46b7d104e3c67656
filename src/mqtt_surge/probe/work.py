"""What the probe's child processes run with ``--option processes=N``.

The probe's own callback closes over its accounting (a lock, histograms), which cannot travel to
another process; so the children run only the simulated work and the callback under test, and
the relay (:mod:`._relay`) brings back when each message began and what it raised, for the probe
to account in its own process.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..subscriber._message import Message
from .options import import_callback


class Work:
    """The children's callback with ``processes`` > 1: the simulated work, then the callback
    under test (imported by name in the child)."""

    def __init__(self, callback_ms: float, callback: str | None) -> None:
        self.callback_ms = callback_ms
        self.callback = callback
        self._user: Any = None

    def __getstate__(self) -> tuple[float, str | None]:
        return self.callback_ms, self.callback

    def __setstate__(self, state: tuple[float, str | None]) -> None:
        self.__init__(*state)  # type: ignore[misc]

    def user(self) -> Any:
        if self._user is None and self.callback:
            self._user = import_callback(self.callback)
        return self._user

    def __call__(self, message: Message) -> None:
        if self.callback_ms:
            time.sleep(self.callback_ms / 1000)
        user = self.user()
        if user is not None:
            user(message)


class AsyncWork(Work):
    async def __call__(self, message: Message) -> None:  # type: ignore[override]
        if self.callback_ms:
            await asyncio.sleep(self.callback_ms / 1000)
        await self.user()(message)


def quiet(error: BaseException, message: Message) -> None:
    """The children's ``on_error``: their errors come back to the probe, which reports them."""
