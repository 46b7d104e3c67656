"""A subscriber spread over processes: each a subscriber of its own on a shared subscription.

MQTT brokers already spread load: a shared subscription (``$share/<group>/<filter>``, MQTT 5,
and mosquitto for 3.1.1 too) hands each message to one member of the group. ``Subscriber(...,
processes=N)`` starts N child processes (``spawn``: no fork of a process with threads), each
running an ordinary one-process subscriber with the same options on the shared form of every
filter, so a CPU-bound callback gets N cores, and several hosts running the same group share the
load as well, with no coordinator of ours.

The parent keeps one pipe per child: ``ready`` (SUBACK arrived) or ``error`` at start; ``stats``
on request; ``stop`` answered by the child's final counts. A monitor thread restarts a child that
died (counted in :attr:`ProcessGroup.restarts`); what the dead one held but had not finished is
counted ``abandoned`` (with ``ack="after_processing"`` the broker sends it again).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import multiprocessing.connection
import threading
import time
from collections.abc import Callable
from typing import Any

from ._errors import ConfigError, ConnectError, MQTTSurgeError, SubscribeError
from ._options import is_async_callable
from ._relay import Inbox, Observer, Outbox, relayed
from ._stats import Stats, add_up

logger = logging.getLogger("mqtt_surge")

_ERRORS: dict[str, type[MQTTSurgeError]] = {
    "ConnectError": ConnectError,
    "SubscribeError": SubscribeError,
    "ConfigError": ConfigError,
}


def _child(
    conn: multiprocessing.connection.Connection,
    make: Callable[..., Any],
    kwargs: dict[str, Any],
    outbox: Outbox | None,
) -> None:
    """A child process: one ordinary subscriber (``make(**kwargs)``), driven over ``conn``; with
    an ``outbox``, what it processed goes to the parent's observer."""
    start_timeout = kwargs.pop("_start_timeout", 10.0)
    try:
        subscriber = make(**kwargs).start(timeout=start_timeout)
    except MQTTSurgeError as exc:
        reason = getattr(exc, "reason", None)
        conn.send(("error", (type(exc).__name__, str(exc), reason)))
        return
    conn.send(("ready", None))
    while True:
        try:
            command, args = conn.recv()
        except EOFError:  # the parent is gone
            subscriber.stop(timeout=1.0, drain=False)
            return
        if command == "stats":
            conn.send(("stats", dataclasses.asdict(subscriber.stats())))
        elif command == "stop":
            final = subscriber.stop(*args)
            if outbox is not None:  # everything processed is relayed before the final counts
                outbox.close()
            conn.send(("final", dataclasses.asdict(final)))
            return


@dataclasses.dataclass
class _Member:
    index: int
    process: Any
    conn: multiprocessing.connection.Connection
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    last: Stats = dataclasses.field(default_factory=Stats)


class ProcessGroup:
    """N child subscribers on one shared subscription, started, counted and stopped as one."""

    def __init__(
        self,
        count: int,
        make: Callable[..., Any],
        kwargs: dict[str, Any],
        client_id: str,
        observer: Observer | None = None,
    ) -> None:
        # ``make`` is the Subscriber class, handed in (pickled by name for each child) so that
        # this module does not import the subscriber that imports it
        self._make = make
        self._count = count
        self._kwargs = kwargs
        self._client_id = client_id
        self._context = multiprocessing.get_context("spawn")
        self._members: list[_Member] = []
        self._retired = Stats()  # what children that died had counted
        self.restarts = 0
        self._stopping = threading.Event()
        self._monitor: threading.Thread | None = None
        self._inbox = Inbox(self._context, observer) if observer is not None else None

    def _relaying(self, kwargs: dict[str, Any], index: int) -> Outbox | None:
        """With an observer: child ``index``'s callbacks wrapped to send their outcomes back."""
        if self._inbox is None:
            return None
        outbox = self._inbox.outbox(index)
        callback = kwargs["callback"]  # None only beside callbacks (the options say so)
        if callback is not None:
            kwargs["callback"] = relayed(callback, outbox, is_async_callable(callback))
        if kwargs["callbacks"]:
            kwargs["callbacks"] = {
                name: relayed(fn, outbox, is_async_callable(fn))
                for name, fn in kwargs["callbacks"].items()
            }
        return outbox

    def _spawn(self, index: int, timeout: float) -> _Member:
        parent, child = self._context.Pipe()
        kwargs = {
            **self._kwargs,
            "client_id": f"{self._client_id}-{index}",
            "_start_timeout": timeout,
        }
        outbox = self._relaying(kwargs, index)
        process = self._context.Process(
            target=_child,
            args=(child, self._make, kwargs, outbox),
            name=f"mqtt-surge-sub-{self._client_id}-{index}",
            daemon=True,
        )
        process.start()
        child.close()
        if outbox is not None:
            outbox.detach()
        member = _Member(index, process, parent)
        if not parent.poll(timeout + 30):  # the child's own start has its timeout; spawn costs
            process.kill()
            raise ConnectError(
                f"subscriber process {index} did not start in time", reason="timeout"
            )
        try:
            kind, payload = parent.recv()
        except EOFError:
            raise ConnectError(
                f"subscriber process {index} ended while starting (exit code {process.exitcode})",
                reason="refused",
            ) from None
        if kind == "error":
            name, text, reason = payload
            error = _ERRORS.get(name, MQTTSurgeError)
            process.join(5)
            raise error(text, reason=reason) if error is ConnectError else error(text)
        return member

    def start(self, timeout: float) -> None:
        """Start every child; return once each has its SUBACK (raise the first refusal)."""
        try:
            for index in range(self._count):
                self._members.append(self._spawn(index, timeout))
        except BaseException:
            self.stop(1.0, drain=False)
            raise
        self._monitor = threading.Thread(
            target=self._watch, name=f"mqtt-surge-processes-{self._client_id}", daemon=True
        )
        self._monitor.start()

    def _watch(self) -> None:
        # a child that dies is counted and replaced; the stop sets _stopping first
        while not self._stopping.is_set():
            sentinels = {m.process.sentinel: m for m in self._members}
            ready = multiprocessing.connection.wait(list(sentinels), timeout=0.5)
            for sentinel in ready:
                member = sentinels[sentinel]
                if self._stopping.is_set():
                    return
                self._replace(member)

    def _replace(self, member: _Member) -> None:
        member.process.join(1.0)  # reap it, for its exit code
        last = member.last
        logger.warning(
            "mqtt_surge: subscriber process %d died (exit code %s); starting another",
            member.index,
            member.process.exitcode,
        )
        # what it held unfinished is gone with it: abandoned (redelivered with ack after
        # processing and a persistent session)
        lost = dataclasses.replace(
            last, abandoned=last.abandoned + last.queued + last.in_flight, queued=0, in_flight=0
        )
        self._retired = add_up([self._retired, lost])
        try:
            replacement = self._spawn(member.index, 10.0)
        except MQTTSurgeError as exc:
            logger.error("mqtt_surge: could not restart subscriber process: %s", exc)  # noqa: TRY400 - the reason, not our traceback
            return
        if self._stopping.is_set():  # a stop began while it started: it must not outlive it
            with contextlib.suppress(OSError, EOFError):
                replacement.conn.send(("stop", (1.0, False)))
            replacement.process.join(5)
            if replacement.process.is_alive():
                replacement.process.kill()
            return
        self._members[self._members.index(member)] = replacement
        self.restarts += 1  # counted once the replacement has its SUBACK

    def _ask(self, member: _Member) -> Stats:
        with member.lock:
            if member.process.is_alive():
                try:
                    member.conn.send(("stats", None))
                    if member.conn.poll(5.0):
                        _, counts = member.conn.recv()
                        member.last = Stats(**counts)
                except (OSError, EOFError):
                    pass  # it is dying: its last counts stand until the monitor retires it
            return member.last

    def per_process(self) -> list[Stats]:
        return [self._ask(m) for m in self._members]

    def stats(self) -> Stats:
        return add_up([self._retired, *self.per_process()])

    def stop(self, timeout: float, drain: bool) -> Stats:
        """Stop every child (each drains as a subscriber does), in parallel; the final sum."""
        self._stopping.set()
        for member in self._members:
            with member.lock, contextlib.suppress(OSError, EOFError):  # it ended on its own
                member.conn.send(("stop", (timeout, drain)))
        deadline = time.monotonic() + timeout + 5
        finished: list[int] = []  # children that stopped and relayed all they processed
        for member in self._members:
            with member.lock:
                try:
                    if member.conn.poll(max(0.0, deadline - time.monotonic())):
                        _, counts = member.conn.recv()
                        member.last = Stats(**counts)
                        finished.append(member.index)
                except (OSError, EOFError):
                    pass
            member.process.join(max(0.1, deadline - time.monotonic()))
            if member.process.is_alive():
                member.process.kill()
                member.process.join(5)
            member.conn.close()
        if self._monitor is not None and self._monitor is not threading.current_thread():
            self._monitor.join(5)
        if self._inbox is not None and not self._inbox.close(finished, timeout + 5):
            logger.warning("mqtt_surge: not every processed message came back from the children")
        return add_up([self._retired, *(m.last for m in self._members)])
