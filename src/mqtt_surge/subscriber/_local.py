"""One process's subscriber, with no lifecycle of its own: the transport's network thread, the
pipeline behind it and the watchdog, put together by ``launch`` and taken apart, phase by phase,
by ``shutdown``. :class:`~mqtt_surge.Subscriber` drives one (or, with ``processes=N``, a
:class:`~mqtt_surge.scaleout.group.ProcessGroup` whose children each drive one)."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable

from ..runtime.errors import AsyncioLoopWarning
from ..runtime.url import BrokerURL
from ..runtime.warn import Origin, warn_caller
from ._connection import Connection
from ._options import SubscriberOptions
from ._pipeline import Pipeline
from ._stats import Stats
from ._watchdog import Watchdog
from .transports import Settings, Transport

logger = logging.getLogger("mqtt_surge")

LOOP_WARNING = "Detected asyncio event loop. Consider using an async callback."
UNSUBSCRIBE_WAIT = 2.0  # seconds a graceful stop waits for the broker's UNSUBACK


class InProcess:
    """The engine room of one subscriber in this process."""

    restarts = 0  # nothing here is restarted; a process group counts its children's

    def __init__(
        self,
        options: SubscriberOptions,
        client_id: str,
        url: BrokerURL,
        origin: Origin | None,
        live: Callable[[], bool],
    ) -> None:
        self._options = options
        self._client_id = client_id
        self._url = url
        self._origin = origin
        self._live = live  # False once a stop began: lost links are then expected
        self._pipeline: Pipeline | None = None
        self._transport: Transport | None = None
        self._watchdog: Watchdog | None = None
        self._connection: Connection | None = None

    def launch(
        self, wait: bool, timeout: float, running_loop: asyncio.AbstractEventLoop | None
    ) -> None:
        """Start the workers and the network thread; with ``wait``, return once SUBACK came."""
        options = self._options
        if running_loop is not None and options.loop is None and not options.any_async:
            warn_caller(LOOP_WARNING, AsyncioLoopWarning)
        make_transport = options.make_transport_factory()
        connection = self._connection = Connection(self._url, self._live)
        pipeline = self._pipeline = Pipeline(
            options, self._client_id, options.loop or running_loop, self._origin
        )
        transport = self._transport = make_transport(
            Settings(
                url=self._url,
                client_id=self._client_id,
                topics=list(options.topics),
                protocol=int(options.protocol),
                clean_session=options.clean_session,
                session_expiry=options.session_expiry,
                keepalive=options.keepalive,
                manual_ack=options.manual_ack,
                tls=options.tls_for_broker(),
            ),
            connection.events(pipeline.enqueue),
        )
        pipeline.start(ack=transport.ack)
        transport.start()
        if options.keepalive:
            self._watchdog = Watchdog(
                transport, options.keepalive, f"mqtt-surge-watchdog-{self._client_id}"
            )
            self._watchdog.start()
        if wait:
            connection.wait_subscribed(timeout)

    # -- what the subscriber reads ---------------------------------------------------------------

    def stats(self) -> Stats:
        if self._pipeline is None or self._connection is None:
            return Stats()
        return self._pipeline.stats(reconnects=self._connection.reconnects)

    def process_stats(self) -> list[Stats]:
        return [self.stats()]

    def is_connected(self) -> bool:
        return self._transport is not None and self._transport.is_connected()

    @property
    def pids(self) -> list[int]:
        return [os.getpid()]

    def inside(self) -> bool:
        """Whether the caller is one of our threads (or our callbacks' loop): it cannot wait
        for them to end."""
        pipeline, transport = self._pipeline, self._transport
        if pipeline is not None and (
            threading.current_thread() in pipeline.threads() or pipeline.on_callback_loop()
        ):
            return True
        return transport is not None and transport.on_network_thread()

    # -- the stop --------------------------------------------------------------------------------

    def shutdown(self, timeout: float, drain: bool) -> None:
        """The stop, phase by phase, within one budget: ``timeout``, plus the grace that
        ``Pipeline.finish_callbacks`` gives callbacks still running at the deadline."""
        pipeline = self._pipeline
        clock = time.monotonic
        deadline = clock() + timeout

        def left() -> float:
            return max(0.0, deadline - clock())

        if pipeline is not None:
            # 1. ask the broker to stop sending; what it had under way still comes, and is
            #    taken while the buffer drains, until everything settled
            if drain and self._unsubscribe(min(timeout, UNSUBSCRIBE_WAIT)):
                pipeline.wait_idle(left())
            # 2. stop intake: later arrivals count as abandoned
            pipeline.close_intake()
            # 3. drain what is buffered, within the budget; give up on the rest
            if not (drain and pipeline.drain(left())):
                pipeline.abandon_queued()
            # 4. callbacks still running get the grace, then async ones are cancelled
            pipeline.finish_callbacks(deadline, timeout)
        # 5. the network side: watchdog, then the connection and its thread
        if self._watchdog is not None:
            self._watchdog.stop()
            self._watchdog = None
        if self._transport is not None:
            self._transport.close()
        # 6. the loop thread of our own, if async callbacks had one
        if pipeline is not None:
            pipeline.stop_loop(left())

    def _unsubscribe(self, timeout: float) -> bool:
        """Ask the broker to stop sending and wait for its UNSUBACK (True if it came): what it
        sent before is still buffered and drained, so a graceful stop abandons nothing.

        Not with a persistent session: there, unsubscribing would also stop the broker from
        keeping messages for the next session. The buffer closes at once instead, and what
        arrives later is abandoned (and, with ack='after_processing', redelivered later).
        """
        transport = self._transport
        if transport is None or self._options.persistent or not transport.is_connected():
            return False
        if not transport.unsubscribe(timeout):
            logger.info("mqtt_surge: no UNSUBACK from %s before stopping", self._url)
            return False
        return True
