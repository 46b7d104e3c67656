"""A transport that talks to no broker: tests of the subscriber's own logic without a network.

``FakeBroker`` stands where a broker would be. Pass it as the engine and drive it from the test
(httpx's ``MockTransport`` in spirit)::

    fake = FakeBroker()
    sub = Subscriber("fake", "sensors/#", handle, qos=1, ack="after_processing", engine=fake)
    sub.start()                                  # connected and subscribed at once
    fake.publish("sensors/1", b"21.5", qos=1)    # delivered as the network thread would
    fake.wait_acks(1)                            # the PUBACK the subscriber sent
    fake.drop()                                  # the connection is lost, and comes back

Everything a real transport reports happens here too, synchronously, on the thread that drives
the fake: CONNACK (or a refusal), SUBACK (with rejected filters), lost connections and reconnects,
acks of the current connection (an ack of an item from an earlier connection is counted stale,
never sent), UNSUBACK. What it does not model is the network: no keepalive, no back-off.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

from . import _base

# a CONNACK return code that refuses nothing
_ACCEPTED = 0


class FakeTransport:
    """One start's connection to a :class:`FakeBroker` (made by it, as a transport factory)."""

    silence_limit = float("inf")  # a fake link is never silent: the watchdog never fires

    def __init__(self, broker: FakeBroker, settings: _base.Settings, events: _base.Events) -> None:
        self.broker = broker
        self.settings = settings
        self.events = events
        self.generation = 0
        self.connected = False
        self.closed = False
        self.unsubscribed = False

    def start(self) -> None:
        self._connect()

    def _connect(self) -> None:
        broker = self.broker
        if broker.unreachable:
            self.events.unreachable(ConnectionRefusedError("the fake broker is unreachable"))
            return
        if broker.refuse_code != _ACCEPTED:
            self.events.refused(
                _base.connect_error(broker.refuse_code, "refused by the fake", self.settings.url)
            )
            return
        self.generation += 1
        self.connected = True
        self.events.connected()
        self.events.subscribed(
            [f"{name} (135)" for name, _ in self.settings.topics if name in broker.reject]
        )

    # -- driven by the broker, on the test's thread ----------------------------------------------

    def deliver(self, item: _base.Item) -> None:
        if self.connected:
            self.events.enqueue(item)

    def lose(self, reconnect: bool) -> None:
        if not self.connected:
            return
        self.connected = False
        self.events.disconnected("connection lost (fake)")
        if reconnect and not self.closed:
            self._connect()

    # -- the Transport protocol -------------------------------------------------------------------

    def ack(self, item: _base.Item) -> None:
        self.broker._acked(item, stale=item.generation != self.generation)  # noqa: SLF001 - its owner

    def unsubscribe(self, timeout: float) -> bool:
        self.unsubscribed = self.connected
        return self.connected

    def is_connected(self) -> bool:
        return self.connected

    def silent_for(self) -> float | None:
        return 0.0 if self.connected else None

    def drop(self) -> None:
        self.lose(reconnect=True)

    def on_network_thread(self) -> bool:
        return False  # the test's thread drives the fake, and a test may stop from there

    def close(self) -> None:
        self.closed = True
        self.connected = False


class FakeBroker:
    """A broker that is not there, for the subscriber's ``engine=`` (a transport factory).

    ``refuse`` makes every CONNECT fail with that CONNACK code (5: not authorized);
    ``unreachable`` makes every TCP connect fail; ``reject`` lists filters whose SUBACK fails.
    ``acks`` holds ``(mid, qos)`` of each PUBACK the subscriber sent, ``stale_acks`` the mids it
    asked to ack on a connection that had ended (never sent, as MQTT requires).
    """

    name = "fake"

    def __init__(
        self, *, refuse: int = _ACCEPTED, unreachable: bool = False, reject: Iterable[str] = ()
    ) -> None:
        self.refuse_code = refuse
        self.unreachable = unreachable
        self.reject = set(reject)
        self.transports: list[FakeTransport] = []
        self.acks: list[tuple[int, int]] = []
        self.stale_acks: list[int] = []
        self._cond = threading.Condition()
        self._mid = 0

    def __call__(self, settings: _base.Settings, events: _base.Events) -> FakeTransport:
        transport = FakeTransport(self, settings, events)
        self.transports.append(transport)
        return transport

    @property
    def transport(self) -> FakeTransport:
        """The transport of the subscriber's latest start."""
        if not self.transports:
            raise RuntimeError("no subscriber has started on this FakeBroker yet")
        return self.transports[-1]

    def publish(
        self,
        topic: str,
        payload: bytes = b"",
        qos: int = 0,
        *,
        retain: bool = False,
        properties: Any = None,
    ) -> int:
        """Deliver one message to the subscriber now, on this thread (its network thread for the
        moment: with ``overflow="block"`` this waits for room). Returns its packet id (0 for
        QoS 0)."""
        transport = self.transport
        mid = 0
        if qos:
            with self._cond:
                self._mid = self._mid % 65535 + 1
                mid = self._mid
        transport.deliver(
            _base.new_item(
                (
                    topic,
                    payload,
                    qos,
                    retain,
                    mid,
                    properties,
                    time.time(),
                    transport.generation,
                    None,
                )
            )
        )
        return mid

    def drop(self, reconnect: bool = True) -> None:
        """Lose the connection (as a reset would); with ``reconnect`` it is back at once."""
        self.transport.lose(reconnect)

    def wait_acks(self, count: int, timeout: float = 5.0) -> list[tuple[int, int]]:
        """Wait until at least ``count`` acks were sent; return them all."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.acks) >= count, timeout):
                raise TimeoutError(f"expected {count} acks within {timeout:g}s, got {self.acks}")
            return list(self.acks)

    def _acked(self, item: _base.Item, stale: bool) -> None:
        with self._cond:
            if stale:
                self.stale_acks.append(item.mid)
            else:
                self.acks.append((item.mid, item.qos))
            self._cond.notify_all()


__all__ = ["FakeBroker", "FakeTransport"]
