"""Rate-limited warnings: ``warnings.warn`` with our categories, plus the ``mqtt_surge`` logger.

A warning names the user's line, never ours: the caller's own line for one their call caused,
the line that made the subscriber for one raised on a background thread.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable
from typing import NamedTuple

logger = logging.getLogger("mqtt_surge")
# without a handler of the app's, a record would reach logging's last resort and print beside
# the warning that reports the same event
logger.addHandler(logging.NullHandler())

_PACKAGE = os.path.dirname(os.path.dirname(__file__)) + os.sep  # mqtt_surge/, all of it


class Origin(NamedTuple):
    """A line of the user's code: where a warning about it points."""

    filename: str
    lineno: int
    module: str


def user_origin() -> Origin:
    """The nearest line of the caller's stack that is not mqtt-surge's own."""
    frame = sys._getframe(1)  # noqa: SLF001 - the stack is the only record of who called
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
    return Origin(frame.f_code.co_filename, frame.f_lineno, frame.f_globals.get("__name__", ""))


class RateLimited:
    """Emits at most one warning per ``interval`` seconds; says how many happened meanwhile.

    Safe from any thread. A warning filter that turns our category into an error must not kill
    the thread that warned (it runs in the background, where nobody would see the exception), so
    such an error is logged instead. The warning points at ``origin``.
    """

    def __init__(
        self,
        category: type[Warning] | None,
        interval: float = 5.0,
        level: int = logging.WARNING,
        origin: Origin | None = None,
    ) -> None:
        self._category = category
        self._interval = interval
        self._level = level
        self._origin = origin or Origin("<mqtt-surge>", 0, "mqtt_surge")
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
        filename, lineno, module = self._origin
        try:
            warnings.warn_explicit(text, self._category, filename, lineno, module=module)
        except Exception:
            logger.exception("a warnings filter raised on %s", self._category.__name__)
        return True


def warn_caller(text: str, category: type[Warning]) -> None:
    """Warn on the caller's own thread, pointing at the caller's line, where a filter that
    raises reaches the caller."""
    logger.warning(text)
    level, frame = 1, sys._getframe(0)  # noqa: SLF001 - see user_origin
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(text, category, stacklevel=level)
