"""``with obj:`` for anything that has ``start()`` and ``stop()``."""

from __future__ import annotations

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
