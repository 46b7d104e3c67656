"""Rate-limited warnings: ``warnings.warn`` with our categories, plus the ``mqtt_surge`` logger."""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Callable

logger = logging.getLogger("mqtt_surge")


class RateLimited:
    """Emits at most one warning per ``interval`` seconds; says how many happened meanwhile.

    Safe from any thread. A warning filter that turns our category into an error must not kill
    the thread that warned (it runs in the background, where nobody would see the exception), so
    such an error is logged instead.
    """

    def __init__(
        self,
        category: type[Warning] | None,
        interval: float = 5.0,
        level: int = logging.WARNING,
    ) -> None:
        self._category = category
        self._interval = interval
        self._level = level
        self._lock = threading.Lock()
        self._last = float("-inf")
        self._pending = 0
        self.issued = 0  # reports made so far

    def __call__(
        self, describe: Callable[[int], str], exc_info: BaseException | None = None
    ) -> bool:
        """Count one event; if the interval passed, report ``describe(count)``. True if reported.

        ``category=None`` only logs (with ``exc_info``'s traceback, if given).
        """
        now = time.monotonic()
        with self._lock:
            self._pending += 1
            if now - self._last < self._interval:
                return False
            count, self._pending, self._last = self._pending, 0, now
            self.issued += 1
        text = describe(count)
        logger.log(self._level, text, exc_info=exc_info)
        if self._category is None:
            return True
        try:
            warnings.warn(text, self._category, stacklevel=2)
        except Exception:
            logger.exception("a warnings filter raised on %s", self._category.__name__)
        return True


def warn_caller(text: str, category: type[Warning]) -> None:
    """Warn on the caller's own thread, where a filter that raises should reach the caller."""
    logger.warning(text)
    warnings.warn(text, category, stacklevel=3)
