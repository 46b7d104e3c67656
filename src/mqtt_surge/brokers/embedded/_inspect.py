"""The broker's view of the wire: every packet each client sent (``"in"``) and was sent
(``"out"``), in order, with the broker's time; and each protocol fault the test injected
(``"fault"``).

Recording is one tuple appended under a lock on the broker's loop (the bytes are already framed
there); decoding waits until a test reads a record, so a test that never looks pays almost
nothing (``benchmarks/brokers.py`` measures it). The log is bounded: past ``max_records`` or
``max_bytes`` the oldest records go, and ``dropped`` counts them.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ...mqtt import codec, packets, topics

TYPES = {
    packets.CONNECT: "CONNECT",
    packets.CONNACK: "CONNACK",
    packets.PUBLISH: "PUBLISH",
    packets.PUBACK: "PUBACK",
    packets.PUBREC: "PUBREC",
    packets.PUBREL: "PUBREL",
    packets.PUBCOMP: "PUBCOMP",
    packets.SUBSCRIBE: "SUBSCRIBE",
    packets.SUBACK: "SUBACK",
    packets.UNSUBSCRIBE: "UNSUBSCRIBE",
    packets.UNSUBACK: "UNSUBACK",
    packets.PINGREQ: "PINGREQ",
    packets.PINGRESP: "PINGRESP",
    packets.DISCONNECT: "DISCONNECT",
    packets.AUTH: "AUTH",
}
DEFAULT_MAX_RECORDS = 100_000
WHOLE = -2  # a raw record's first byte when its body is the whole packet as written
# packet bodies kept: a test broker lives in the test's process, and the log must not be what
# makes it grow (tests/conformance/test_hostile_load.py holds the whole broker under 64 MB)
DEFAULT_MAX_BYTES = 16 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class PacketRecord:
    """One packet as the broker saw it. ``direction``: ``"in"`` from the client, ``"out"`` to it,
    ``"fault"`` for a fault the test injected (``type`` names the fault). Fields a packet type
    does not have are None (or empty)."""

    seq: int  # its place in the log, from 1, never reused
    time: float  # the broker's clock (manual or monotonic)
    client_id: str
    direction: str
    type: str
    topic: str | None = None  # PUBLISH (as sent: empty where an MQTT 5 topic alias stands for it)
    payload: bytes | None = None
    qos: int | None = None
    retain: bool | None = None
    dup: bool | None = None
    packet_id: int | None = None
    properties: dict[int, Any] = dataclasses.field(default_factory=dict)
    reason_codes: tuple[int, ...] = ()  # CONNACK, the acks, SUBACK/UNSUBACK, DISCONNECT
    # SUBSCRIBE: (filter, QoS, options byte); UNSUBSCRIBE: (filter, 0, 0)
    subscriptions: tuple[tuple[str, int, int], ...] = ()
    connect: packets.Connect | None = None  # CONNECT: protocol level, keepalive, clean, will...
    session_present: bool | None = None  # CONNACK
    error: str | None = None  # the packet did not decode: why (a hostile or broken client)

    @property
    def options(self) -> list[dict[str, Any]]:
        """SUBSCRIBE options by name, one per filter: qos, no_local, retain_as_published,
        retain_handling."""
        return [
            {
                "filter": f,
                "qos": qos,
                "no_local": bool(o & 0x04),
                "retain_as_published": bool(o & 0x08),
                "retain_handling": (o >> 4) & 3,
            }
            for f, qos, o in self.subscriptions
        ]

    def __str__(self) -> str:
        where = f"{self.direction:>5} {self.client_id or '?'}"
        what = [self.type]
        if self.topic is not None:
            what.append(repr(self.topic))
        for name in ("qos", "retain", "dup", "packet_id"):
            value = getattr(self, name)
            if value:
                what.append(f"{name}={value}")
        if self.reason_codes and any(self.reason_codes):
            what.append("codes=" + ",".join(f"{c:#04x}" for c in self.reason_codes))
        if self.subscriptions:
            what.append(", ".join(f"{f!r} q{q}" for f, q, _ in self.subscriptions))
        if self.error:
            what.append(f"undecodable: {self.error}")
        return f"{self.time:12.3f} {where}: {' '.join(what)}"


Raw = tuple[int, float, str, str, int, bytes, bool]  # seq, time, client, direction, first, body, v5


def decode(raw: Raw) -> PacketRecord:
    seq, at, client_id, direction, first, body, v5 = raw
    kind = first >> 4
    base: dict[str, Any] = {"seq": seq, "time": at, "client_id": client_id, "direction": direction}
    try:
        fields = _fields(kind, first, body, v5)
        if client_id:  # a CONNECT's own id stands in only before the broker knew one
            fields.pop("client_id", None)
        return PacketRecord(type=TYPES.get(kind, str(kind)), **{**base, **fields})
    except (codec.PacketError, ValueError, IndexError) as exc:
        return PacketRecord(type=TYPES.get(kind, str(kind)), error=str(exc), **base)


def _fields(kind: int, first: int, body: bytes, v5: bool) -> dict[str, Any]:  # noqa: PLR0911
    if kind == packets.PUBLISH:
        p = packets.decode_publish(first, body, v5)
        return {
            "topic": p.topic,
            "payload": p.payload,
            "qos": p.qos,
            "retain": p.retain,
            "dup": p.dup,
            "packet_id": p.mid or None,
            "properties": p.props,
        }
    if kind == packets.CONNECT:
        c = packets.decode_connect(body)
        return {"connect": c, "properties": c.props, "client_id": c.client_id}
    if kind == packets.CONNACK:
        a = packets.decode_connack(body, v5)
        return {
            "reason_codes": (a.code,),
            "session_present": a.session_present,
            "properties": a.props,
        }
    if kind in (packets.SUBSCRIBE, packets.UNSUBSCRIBE):
        decoder = (
            packets.decode_subscribe if kind == packets.SUBSCRIBE else packets.decode_unsubscribe
        )
        mid, props, filters = decoder(body, v5)
        subs = tuple((f if isinstance(f, str) else f.decode(), o & 3, o) for f, o in filters)
        return {"packet_id": mid, "properties": props, "subscriptions": subs}
    if kind in (packets.PUBACK, packets.PUBREC, packets.PUBREL, packets.PUBCOMP):
        ack = packets.decode_ack(first, body, v5)
        return {"packet_id": ack.mid, "reason_codes": tuple(ack.codes), "properties": ack.props}
    if kind in (packets.SUBACK, packets.UNSUBACK):
        ack = packets.decode_ack(first, body, v5)
        return {"packet_id": ack.mid, "reason_codes": tuple(ack.codes), "properties": ack.props}
    if kind == packets.DISCONNECT:
        d = packets.decode_disconnect(body, v5)
        return {"reason_codes": (d.reason,), "properties": d.props}
    return {}


class PacketLog:
    """``broker.packets``: a sequence of :class:`PacketRecord`, oldest first. Iterate, index,
    ``len()``, :meth:`clear`; :meth:`publishes` and :meth:`of` filter; :meth:`wait_until` waits
    on a signal (each record notifies)."""

    def __init__(
        self, max_records: int = DEFAULT_MAX_RECORDS, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        self.max_records = max_records
        self.max_bytes = max_bytes
        self._raw: collections.deque[Raw] = collections.deque()
        self._bytes = 0
        self._seq = 0
        self.dropped = 0  # records let go to stay within the bounds
        self._cond = threading.Condition()  # a test waits on it; a record wakes it
        self._waiting = 0
        self.enabled = True

    # -- the broker's side (its loop thread) ------------------------------------------------------

    def record(
        self, at: float, client_id: str, direction: str, first: int, body: bytes, v5: bool
    ) -> None:
        """One packet: ``first`` is its first byte and ``body`` what follows its fixed header;
        or, with ``first`` = WHOLE, ``body`` is the packet as written (split when read).

        No lock: only the broker's loop thread writes, and a deque's append and popleft, and the
        test's ``list()`` of it, are each one step under the GIL (a lock here cost a sixth of
        the broker's time per message). The lock is taken to wake a waiting test only."""
        seq = self._seq = self._seq + 1
        raw = self._raw
        if len(raw) >= self.max_records:  # full: the oldest goes as this one comes
            self._bytes -= len(raw.popleft()[5])
            self.dropped += 1
        raw.append((seq, at, client_id, direction, first, body, v5))
        self._bytes += len(body)
        if self._bytes > self.max_bytes:
            self._trim()
        if self._waiting:
            with self._cond:
                self._cond.notify_all()

    def _trim(self) -> None:
        """Over the byte bound: count again (a ``clear()`` from the test's thread may have met an
        update here), then let the oldest go down to 90% of the bound, so that a log of large
        packets does not count again at every record."""
        raw = self._raw
        self._bytes = sum(len(r[5]) for r in list(raw))
        keep = self.max_bytes * 9 // 10
        while raw and self._bytes > keep:
            self._bytes -= len(raw.popleft()[5])
            self.dropped += 1

    def record_fault(self, at: float, client_id: str, fault: str, topic: str | None = None) -> None:
        """A fault the test injected, acting now: a record of ``direction="fault"`` (first byte
        -1; the body holds the fault's name and the topic)."""
        if self.enabled:
            body = fault.encode() + b"\0" + (topic or "").encode()
            self.record(at, client_id, "fault", -1, body, False)

    # -- the test's side ---------------------------------------------------------------------------

    def _snapshot(self) -> list[Raw]:
        return list(self._raw)  # one step under the GIL: see record()

    def __iter__(self) -> Iterator[PacketRecord]:
        return iter([_decode_any(r) for r in self._snapshot()])

    def __len__(self) -> int:
        return len(self._raw)

    def __getitem__(self, index: int) -> PacketRecord:
        return _decode_any(self._snapshot()[index])

    def since(self, seq: int) -> list[PacketRecord]:
        """The records after ``seq`` (0: all kept)."""
        return [_decode_any(r) for r in self._snapshot() if r[0] > seq]

    def latest(
        self, predicate: Callable[[PacketRecord], bool], count: int, scan: int = 10_000
    ) -> list[PacketRecord]:
        """The newest ``count`` records ``predicate`` keeps, oldest first, looking at no more
        than the newest ``scan`` (a failing test's report reads this: it must stay quick)."""
        found: list[PacketRecord] = []
        for raw in reversed(self._snapshot()[-scan:]):
            record = _decode_any(raw)
            if predicate(record):
                found.append(record)
                if len(found) == count:
                    break
        return found[::-1]

    @property
    def last_seq(self) -> int:
        return self._seq

    def of(self, client_id: str) -> list[PacketRecord]:
        return [r for r in self if r.client_id == client_id]

    def publishes(self, topic_filter: str = "#", direction: str = "in") -> list[PacketRecord]:
        """PUBLISH packets whose topic matches ``topic_filter``: ``"in"`` as the clients sent
        them (the default), ``"out"`` as the broker delivered them."""
        return [
            r
            for r in self
            if r.type == "PUBLISH"
            and r.direction == direction
            and r.topic
            and topics.matches(topic_filter, r.topic)
        ]

    def clear(self) -> None:
        self._raw.clear()
        self._bytes = 0  # may meet an update in record(): _trim() counts again if it must

    def wait_until(
        self, predicate: Callable[[list[PacketRecord]], Any], timeout: float, since: int = 0
    ) -> Any:
        """Wait until ``predicate(records after since)`` is truthy; return its value, or None
        after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._waiting += 1
        try:
            while True:
                with self._cond:
                    seen = self._seq
                found = predicate(self.since(since))
                if found:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                with self._cond:
                    if self._seq == seen:  # nothing new since the check: wait for a record
                        self._cond.wait(left)
        finally:
            with self._cond:
                self._waiting -= 1

    def __repr__(self) -> str:
        return f"<PacketLog {len(self)} records, {self.dropped} let go>"


def _decode_any(raw: Raw) -> PacketRecord:
    if raw[4] == WHOLE:  # an outgoing packet, kept as written: split its fixed header now
        data = raw[5]
        length, start = codec.read_varint(data, 1)
        raw = (*raw[:4], data[0], bytes(data[start : start + length]), raw[6])
    if raw[4] == -1:  # a fault record
        fault, _, topic = raw[5].partition(b"\0")
        return PacketRecord(
            seq=raw[0],
            time=raw[1],
            client_id=raw[2],
            direction="fault",
            type=fault.decode(),
            topic=topic.decode() or None,
        )
    return decode(raw)
