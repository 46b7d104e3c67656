"""A case whose wait is the broker's own clock, started early.

mosquitto closes a connection that never completes CONNECT only after 1.5 times its default
keepalive (about 95 s, no setting changes it). Waiting for that in the test would add 95 s to
every run, so conftest.py starts the mosquitto case when collection ends, on a broker of its
own, and the test collects the outcome when its turn comes: the same connections, the same
bounds, the same assertions; only the waiting overlaps the other tests.
"""

from __future__ import annotations

import threading
import time

from mqtt_surge import BrokerURL
from mqtt_surge import mqtt as p

from ._raw import Closed, Raw


def trickle(raw: Raw, data: bytes, interval: float, until: float) -> bool:
    """Send ``data`` a byte at a time every ``interval`` s; True if the broker closed the
    connection before ``until`` (monotonic), False if the data ran out or the time did."""
    for i in range(len(data)):
        if time.monotonic() > until:
            return False
        try:
            raw.send(data[i : i + 1])
            raw.packet(interval)
        except TimeoutError:  # an OSError too: this one first
            continue
        except (Closed, OSError):
            return True
    return False


class ConnectTimeoutCase:
    """Two connections that never complete a CONNECT, opened at :meth:`start`: one silent, one
    trickling, a byte a second, a CONNECT that declares 300 bytes and never sends them all.
    :meth:`outcome` says whether each was closed within ``bound`` seconds of the start."""

    def __init__(self, url: BrokerURL, bound: float) -> None:
        self.url, self.bound = url, bound
        self._thread = threading.Thread(target=self._run, name="connect-timeout-case", daemon=True)
        self._trickle_closed = False
        self._silent_problem: str | None = "not run"

    def start(self) -> ConnectTimeoutCase:
        self._silent = Raw(self.url)
        self._trickling = Raw(self.url)
        self._started = time.monotonic()
        self._thread.start()
        return self

    def _run(self) -> None:
        connect = p.encode_connect("trickle", level=4)
        partial = connect[:1] + p.varint(300) + connect[2:] + b"\x00" * 200
        until = self._started + self.bound
        self._trickle_closed = trickle(self._trickling, partial, 1.0, until)
        try:
            self._silent.closes(max(until - time.monotonic(), 1.0))
            self._silent_problem = None
        except AssertionError as exc:
            self._silent_problem = str(exc)

    def outcome(self) -> tuple[bool, str | None]:
        """(the trickling connection was closed in time, why the silent one was not or None)."""
        self._thread.join(self.bound + 30)
        assert not self._thread.is_alive(), "the case did not finish"
        return self._trickle_closed, self._silent_problem

    def close(self) -> None:
        self._silent.close()
        self._trickling.close()


class SilentClientCase:
    """A client that asks for no keepalive (0) on a broker whose Server Keep Alive is
    ``keepalive`` s, connected at :meth:`start` and then silent: :meth:`outcome` is the Server
    Keep Alive its CONNACK announced and how long after the CONNACK the broker closed the
    connection (None if not within ``bound`` s)."""

    def __init__(self, url: BrokerURL, bound: float) -> None:
        self.url, self.bound = url, bound
        self._thread = threading.Thread(target=self._run, name="silent-client-case", daemon=True)
        self._elapsed: float | None = None
        self.announced: int | None = None

    def start(self) -> SilentClientCase:
        self._raw = Raw(self.url)
        self._raw.connect(f"silent-{time.monotonic_ns()}", level=5, keepalive=0)
        self.announced = self._raw.connack.props.get(p.SERVER_KEEP_ALIVE)
        self._started = time.monotonic()
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self._raw.closes(self.bound)
            self._elapsed = time.monotonic() - self._started
        except AssertionError:
            self._elapsed = None

    def outcome(self) -> tuple[int | None, float | None]:
        self._thread.join(self.bound + 30)
        assert not self._thread.is_alive(), "the case did not finish"
        return self.announced, self._elapsed

    def close(self) -> None:
        self._raw.close()
