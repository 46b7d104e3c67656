"""``with obj:`` for anything that has ``start()`` and ``stop()``, and a subscriber's states."""

from __future__ import annotations

import enum
from typing import Any, TypeVar

_S = TypeVar("_S", bound="StartStop")


class StartStop:
    """Entering starts the object and returns it; leaving stops it, whatever happened inside."""

    def start(self: _S) -> _S:
        raise NotImplementedError

    def stop(self) -> Any:
        raise NotImplementedError

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class State(enum.Enum):
    """Where a subscriber is in its life; moves happen under the subscriber's one state lock."""

    NEW = "new"  # built, never started
    STARTING = "starting"  # start() is connecting and waiting for the SUBACK
    RUNNING = "running"  # subscribed (reconnects happen inside this state)
    STOPPING = "stopping"  # a stop is under way; a second stop() waits for it
    STOPPED = "stopped"  # final counts frozen; start() begins anew

    @property
    def live(self) -> bool:
        """Started and not yet stopping: what stop() has to end."""
        return self in (State.STARTING, State.RUNNING)
