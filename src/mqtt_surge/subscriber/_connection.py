"""What one start of a subscriber learns about its connection, from the network thread.

The transport reports CONNACKs, refusals, unreachable brokers, SUBACKs and lost links
(:class:`~mqtt_surge.subscriber.transports.Events`); this object keeps what they say, logs them,
and lets ``start()`` wait for the SUBACK or fail at once with the reason: a refusal, a rejected
filter, or nothing listening.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from ..runtime.errors import ConnectError, SubscribeError
from ..runtime.url import BrokerURL
from .transports import Events, Item

logger = logging.getLogger("mqtt_surge")


class Connection:
    """Connection events of one start; ``live()`` tells whether a lost link is news."""

    def __init__(self, url: BrokerURL, live: Callable[[], bool]) -> None:
        self._url = url
        self._live = live
        self.connects = 0
        self._subscribed = threading.Event()  # SUBACK arrived, or start() must give up
        self._fatal: BaseException | None = None  # why start() gives up
        self._last_problem: ConnectError | None = None

    @property
    def reconnects(self) -> int:
        return max(0, self.connects - 1)

    def events(self, enqueue: Callable[[Item], None]) -> Events:
        """The transport's events: ``enqueue`` for messages, the rest here."""
        return Events(
            enqueue=enqueue,
            connected=self.connected,
            refused=self.refused,
            unreachable=self.unreachable,
            subscribed=self.subscribed,
            disconnected=self.disconnected,
        )

    # -- on the network thread --------------------------------------------------------------------

    def connected(self) -> None:
        self.connects += 1
        if self.connects > 1:
            logger.info("reconnected to %s; subscribing again", self._url)

    def refused(self, error: ConnectError) -> None:
        self._last_problem = error
        logger.warning("mqtt_surge: %s", error)
        self._fail_start(error)

    def unreachable(self, reason: BaseException | None) -> None:
        refused = isinstance(reason, ConnectionRefusedError)
        why = f": connection refused ({reason})" if refused else f": {reason}" if reason else ""
        error = ConnectError(
            f"could not connect to {self._url.redacted}{why}", reason="unreachable"
        )
        self._last_problem = error
        logger.info("mqtt_surge: %s; retrying", error)
        if refused:
            self._fail_start(error)  # nothing listens there: waiting will not change that

    def subscribed(self, rejected: Iterable[str]) -> None:
        rejected = list(rejected)
        if rejected:
            error = SubscribeError(f"{self._url.redacted} rejected: {', '.join(rejected)}")
            logger.error("mqtt_surge: %s", error)
            if not self._subscribed.is_set():
                self._fatal = error
        self._subscribed.set()

    def disconnected(self, reason: object) -> None:
        if self._live():
            logger.warning("mqtt_surge: disconnected from %s (%s); reconnecting", self._url, reason)

    def _fail_start(self, error: ConnectError) -> None:
        # the broker answered no: a start() still waiting fails now, with the reason, rather
        # than after its timeout (later, once running, the transport keeps reconnecting)
        if not self._subscribed.is_set():
            self._fatal = error
            self._subscribed.set()  # wakes start(), which raises

    # -- on start()'s thread ----------------------------------------------------------------------

    def wait_subscribed(self, timeout: float) -> None:
        """Return once the SUBACK came; raise what went wrong otherwise."""
        if not self._subscribed.wait(timeout):
            problem = self._last_problem
            if self.connects:
                raise ConnectError(
                    f"connected to {self._url.redacted} but no SUBACK within {timeout:g}s",
                    reason="timeout",
                )
            raise ConnectError(
                f"no connection to {self._url.redacted} within {timeout:g}s"
                + (f": {problem}" if problem else ""),
                reason=problem.reason if problem else "timeout",
                return_code=problem.return_code if problem else None,
            )
        if self._fatal is not None:
            raise self._fatal
