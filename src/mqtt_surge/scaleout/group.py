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
from typing import Any, cast

from ..runtime.errors import ConfigError, ConnectError, MQTTSurgeError, SubscribeError
from ..runtime.url import BrokerURL
from ..subscriber._local import InProcess
from ..subscriber._observed import reporting
from ..subscriber._options import SubscriberOptions
from ..subscriber._stats import Stats, add_up
from ..subscriber.transports import Engine
from .relay import Inbox, Outbox

logger = logging.getLogger("mqtt_surge")

_ERRORS: dict[str, type[MQTTSurgeError]] = {
    "ConnectError": ConnectError,
    "SubscribeError": SubscribeError,
    "ConfigError": ConfigError,
}


def child_options(options: SubscriberOptions, url: BrokerURL, group: str) -> SubscriberOptions:
    """What each child of a ``processes > 1`` subscriber runs: these options, one process each,
    on the shared form of every filter (the client id is set per child)."""
    return dataclasses.replace(
        options,
        broker=url,
        topic=[
            (name if name.startswith("$share/") else f"$share/{group}/{name}", qos)
            for name, qos in options.topics
        ],
        callbacks=dict(options.routes) or None,
        processes=1,
        shared_group=None,
        engine=cast(Engine, options.engine_name),
        username=None,  # in the URL already
        password=None,
        observer=None,
    )


def _child(
    conn: multiprocessing.connection.Connection,
    options: SubscriberOptions,
    outbox: Outbox | None,
    start_timeout: float,
) -> None:
    """A child process: one ordinary subscriber's engine room, driven over ``conn``; with an
    ``outbox``, what it processed goes to the parent's observer."""
    if outbox is not None:
        options = reporting(options, outbox.add)
    stopping = threading.Event()
    assert options.client_id is not None
    part = InProcess(options, options.client_id, options.url(), None, lambda: not stopping.is_set())
    try:
        part.launch(True, start_timeout, None)
    except MQTTSurgeError as exc:
        stopping.set()
        part.shutdown(1.0, drain=False)
        conn.send(("error", (type(exc).__name__, str(exc), getattr(exc, "reason", None))))
        return
    conn.send(("ready", None))
    while True:
        try:
            command, args = conn.recv()
        except EOFError:  # the parent is gone
            stopping.set()
            part.shutdown(1.0, drain=False)
            return
        if command == "stats":
            conn.send(("stats", (dataclasses.asdict(part.stats()), part.is_connected())))
        elif command == "stop":
            stopping.set()
            part.shutdown(*args)
            if outbox is not None:  # everything processed is relayed before the final counts
                outbox.close()
            conn.send(("final", dataclasses.asdict(part.stats())))
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

    restarts: int  # children replaced after they died, each counted once it had its SUBACK

    def __init__(self, options: SubscriberOptions, url: BrokerURL, client_id: str) -> None:
        group = options.shared_group or f"mqtt-surge-{client_id}"
        self._options = child_options(options, url, group)
        self._count = options.processes
        self._client_id = client_id
        self._context = multiprocessing.get_context("spawn")
        self._members: list[_Member] = []
        self._retired = Stats()  # what children that died had counted
        self.restarts = 0
        self._stopping = threading.Event()
        self._monitor: threading.Thread | None = None
        observer = options.observer
        self._inbox = Inbox(self._context, observer) if observer is not None else None

    def _spawn(self, index: int, timeout: float) -> _Member:
        parent, child = self._context.Pipe()
        options = dataclasses.replace(self._options, client_id=f"{self._client_id}-{index}")
        outbox = self._inbox.outbox(index) if self._inbox is not None else None
        process = self._context.Process(
            target=_child,
            args=(child, options, outbox, timeout),
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

    def launch(self, wait: bool, timeout: float, running_loop: object = None) -> None:
        """Start every child; return once each has its SUBACK (raise the first refusal).
        Children always wait for theirs: a group is started only when all of it is."""
        try:
            for index in range(self._count):
                self._members.append(self._spawn(index, timeout))
        except BaseException:
            self.shutdown(1.0, drain=False)
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

    def _ask(self, member: _Member) -> tuple[Stats, bool]:
        """A child's counts, and whether its connection is up."""
        with member.lock:
            if member.process.is_alive():
                try:
                    member.conn.send(("stats", None))
                    if member.conn.poll(5.0):
                        _, (counts, connected) = member.conn.recv()
                        member.last = Stats(**counts)
                        return member.last, connected
                except (OSError, EOFError):
                    pass  # it is dying: its last counts stand until the monitor retires it
            return member.last, False

    def process_stats(self) -> list[Stats]:
        return [self._ask(m)[0] for m in self._members]

    def stats(self) -> Stats:
        return add_up([self._retired, *self.process_stats()])

    def is_connected(self) -> bool:
        """Whether every child's connection is up."""
        return bool(self._members) and all(self._ask(m)[1] for m in self._members)

    @property
    def pids(self) -> list[int]:
        """The children's process ids, in their order (a replaced child's is its successor's)."""
        return [m.process.pid for m in self._members]

    def inside(self) -> bool:
        return False  # callbacks run in the children: no thread here can be one of them

    def shutdown(self, timeout: float, drain: bool) -> Stats:
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
