"""What child processes processed, sent back to the parent (``processes`` > 1 with an observer).

A test's recorder and the load suite's probe account for every message in the parent, while
the callback runs in a child. Each child's callback reports to its :class:`Outbox`
(:mod:`mqtt_surge.subscriber._observed`): ``(message, when it started, the error it raised or
None)``, which a thread of its own sends in batches every few milliseconds over a pipe
(pickling one message at a time would cost more than many callbacks). The parent's
:class:`Inbox` thread hands each to the observer. A child's last batch is followed by a ``done``
marker, so the parent knows when everything a stopped child processed has arrived.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import sys
import threading
import traceback
from multiprocessing import connection
from multiprocessing.connection import Connection
from typing import Any

from ..subscriber._message import Message
from ..subscriber._options import Observer

logger = logging.getLogger("mqtt_surge")

FLUSH_INTERVAL = 0.01  # seconds between batches: a test's wait_for sees a message this late


class Outbox:
    """Child side: collects outcomes and sends them in batches over the child's own pipe (built
    in the parent, pickled into the child at spawn, where its lock and thread are made)."""

    def __init__(self, conn: Connection, index: int) -> None:
        self._conn = conn
        self._index = index
        self._setup()

    def _setup(self) -> None:
        self._lock = threading.Lock()
        self._items: list[tuple[Message, float, BaseException | None]] = []
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def __getstate__(self) -> tuple[Connection, int]:
        return self._conn, self._index

    def __setstate__(self, state: tuple[Connection, int]) -> None:
        self._conn, self._index = state
        self._setup()

    def detach(self) -> None:
        """In the parent, once the child has its copy: close ours, so that the pipe ends when
        the child does."""
        self._conn.close()

    def add(self, message: Message, started: float, error: BaseException | None) -> None:
        if error is not None:
            error = _sendable(error, self._index)
        with self._lock:
            self._items.append((message, started, error))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="mqtt-surge-relay", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while not self._closed.wait(FLUSH_INTERVAL):
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            items, self._items = self._items, []
        if items:
            self._send(("items", items))

    def _send(self, data: tuple[str, Any]) -> None:
        try:
            self._conn.send(data)
        except OSError:  # the parent stopped reading (it is gone, or gave up on this child)
            self._closed.set()

    def close(self) -> None:
        """After the subscriber stopped: send what is left, then ``done``."""
        self._closed.set()
        if self._thread is not None:
            self._thread.join()
        self._flush()
        self._send(("done", self._index))
        self._conn.close()


def _sendable(error: BaseException, index: int) -> BaseException:
    """The error with the child's traceback as a note (tracebacks do not pickle), or a
    RuntimeError that names it when the error itself does not pickle."""
    text = "".join(traceback.format_exception(error)).rstrip()
    try:
        pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes; some errors fail to load
    except Exception:  # any pickling failure: send its description instead
        error = RuntimeError(f"{type(error).__name__}: {error}")
    note = f"raised in subscriber process {index}:\n{text}"
    if sys.version_info >= (3, 11):
        error.add_note(note)
    else:  # notes are printed from 3.11 on; before, the attribute is still there to read
        setattr(error, "__notes__", [*getattr(error, "__notes__", []), note])  # noqa: B010
    return error


class Inbox:
    """Parent side: one thread reading every child's pipe, handing outcomes to the observer.

    A pipe per child rather than one shared queue: a child killed while writing would leave a
    shared queue's lock held for good; its own pipe just ends."""

    def __init__(self, context: Any, observer: Observer) -> None:
        self._context = context
        self._observer = observer
        self._conns: dict[Connection, int] = {}
        self._done: set[int] = set()
        self._cond = threading.Condition()
        self._wake_r, self._wake_w = context.Pipe(duplex=False)
        self._ended = False
        self._thread = threading.Thread(target=self._run, name="mqtt-surge-inbox", daemon=True)
        self._thread.start()

    def outbox(self, index: int) -> Outbox:
        """The outbox for child ``index`` (started now or again): its ``done`` is still to come."""
        reader, writer = self._context.Pipe(duplex=False)
        with self._cond:
            if self._ended:  # a child restarted while the group stops: nobody reads it now
                reader.close()
                return Outbox(writer, index)
            self._done.discard(index)
            self._conns[reader] = index
        with contextlib.suppress(OSError):  # closed by a stop meanwhile
            self._wake_w.send(None)  # the thread waits on the new pipe too from now on
        return Outbox(writer, index)

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._ended:
                    return
                conns = list(self._conns)
            for conn in connection.wait([self._wake_r, *conns]):
                assert isinstance(conn, Connection)
                if conn is self._wake_r:
                    conn.recv()
                    continue
                self._read(conn)

    def _read(self, conn: Connection) -> None:
        try:
            kind, payload = conn.recv()
        except (EOFError, OSError):  # the child ended (done was sent before) or died
            with self._cond:
                self._conns.pop(conn, None)
            conn.close()
            return
        except Exception:  # a batch that does not unpickle here: say so, keep reading
            logger.exception("mqtt_surge: a batch from a subscriber process could not be read")
            return
        if kind == "done":
            with self._cond:
                self._done.add(payload)
                self._cond.notify_all()
            return
        for message, started, error in payload:
            try:
                self._observer(message, started, error)
            except Exception:  # noqa: PERF203 - one bad message must not skip the rest
                logger.exception("mqtt_surge: the observer of subscriber processes raised")

    def close(self, indexes: list[int], timeout: float) -> bool:
        """Wait until the children ``indexes`` said ``done`` (everything they processed was
        observed), then end the thread. False if one did not in ``timeout`` seconds."""
        with self._cond:
            if self._ended:  # closed already (a failed start stops the group twice)
                return True
            complete = self._cond.wait_for(lambda: self._done.issuperset(indexes), timeout)
            self._ended = True
        self._wake_w.send(None)
        self._thread.join(5)
        for conn in [*self._conns, self._wake_r, self._wake_w]:
            conn.close()
        return complete
