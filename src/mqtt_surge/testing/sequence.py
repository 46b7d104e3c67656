"""Sequence-numbered payloads, and the one checker of what arrived: gaps, duplicates, order.

The sequence header: 22 bytes at the start of a payload, big-endian: ``b"MS"``, publisher id
(uint32), sequence (uint64, from 0), send time (float64, ``time.time()``); the rest of the
payload is padding. :class:`~mqtt_surge.testing.Publisher`, the load suite's publishers and the
probe all use it; :class:`Sequences` is the checker for both a test's few messages
(:func:`sequence_report`) and the probe's millions.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import struct
import time
from collections.abc import Iterable
from typing import Any

from ..runtime.errors import ConfigError
from ..subscriber._message import Message

HEADER = struct.Struct("!2sIQd")
MAGIC = b"MS"


def pack_header(publisher_id: int, sequence: int, sent_at: float | None = None) -> bytes:
    return HEADER.pack(MAGIC, publisher_id, sequence, time.time() if sent_at is None else sent_at)


@dataclasses.dataclass(frozen=True, slots=True)
class Header:
    publisher_id: int
    sequence: int
    sent_at: float


def unpack_header(payload: bytes) -> Header | None:
    """The header at the start of ``payload``, or None if it carries none."""
    if len(payload) < HEADER.size or payload[:2] != MAGIC:
        return None
    _, publisher_id, sequence, sent_at = HEADER.unpack_from(payload)
    return Header(publisher_id, sequence, sent_at)


# Where a publisher carries the sequence when the payload is its own (the load suite's
# --mqtt-sequence-in): "header" prefixes the 22 bytes above; "properties" puts
# "publisher:sequence:sent_at" in an MQTT 5 user property; "field:NAME" puts it in field NAME of
# a JSON object payload
CARRIERS = ("header", "properties")
FIELD_PREFIX = "field:"
SEQUENCE_PROPERTY = "mqtt-surge-seq"


def check_carrier(carrier: str) -> str:
    """``carrier`` if it is one of header, properties, field:NAME; ConfigError otherwise."""
    if carrier in CARRIERS or (carrier.startswith(FIELD_PREFIX) and carrier[len(FIELD_PREFIX) :]):
        return carrier
    raise ConfigError(f"the sequence goes in header, properties or field:NAME, got {carrier!r}")


def sequence_text(publisher_id: int, sequence: int, sent_at: float | None = None) -> str:
    """The sequence as text, for a user property or a JSON field."""
    return f"{publisher_id}:{sequence}:{time.time() if sent_at is None else sent_at!r}"


def parse_sequence_text(text: object) -> Header | None:
    if not isinstance(text, str):
        return None
    parts = text.split(":")
    if len(parts) != 3:
        return None
    try:
        return Header(int(parts[0]), int(parts[1]), float(parts[2]))
    except ValueError:
        return None


def _user_properties(properties: Any) -> list[tuple[str, str]]:
    """MQTT 5 user properties as the engines hand them over: paho's Properties object, or
    gmqtt's dict."""
    if properties is None:
        return []
    if isinstance(properties, dict):
        pairs = properties.get("user_property") or []
    else:
        pairs = getattr(properties, "UserProperty", None) or []
    return [(str(pair[0]), str(pair[1])) for pair in pairs if len(pair) == 2]


def read_sequence(message: Message, carrier: str = "header") -> tuple[Header | None, str]:
    """The sequence ``message`` carries, and where it was found (``"header"``,
    ``"properties"``, ``"field"``, or ``""`` when it carries none). The header is looked for
    first, whatever ``carrier`` says."""
    header = unpack_header(message.payload)
    if header is not None:
        return header, "header"
    if carrier == "properties":
        for name, value in _user_properties(message.properties):
            if name == SEQUENCE_PROPERTY:
                found = parse_sequence_text(value)
                return found, "properties" if found else ""
    elif carrier.startswith(FIELD_PREFIX):
        try:
            document = json.loads(message.payload)
        except ValueError:
            return None, ""
        if isinstance(document, dict):
            found = parse_sequence_text(document.get(carrier[len(FIELD_PREFIX) :]))
            return found, "field" if found else ""
    return None, ""


def sequenced_payload(publisher_id: int, sequence: int, size: int = HEADER.size) -> bytes:
    header = pack_header(publisher_id, sequence)
    return header + b"." * max(0, size - len(header))


_publisher_ids = itertools.count(1)


def new_publisher_id() -> int:
    """An id for a new publisher: this process's pid (low 16 bits) and a counter (low 16 bits),
    so publishers of several processes feeding one probe stay apart."""
    return ((os.getpid() & 0xFFFF) << 16 | next(_publisher_ids) & 0xFFFF) & 0xFFFFFFFF


class Sequences:
    """One publisher's sequence numbers as they arrive, in a growable bitmap (constant work per
    message, an eighth of a byte per sequence: the probe keeps one per publisher for hours).

    A repeat counts as a duplicate; a new sequence below the last new one as a reordering."""

    def __init__(self) -> None:
        self.bits = bytearray()
        self.count = 0
        self.duplicates = 0
        self.duplicated: set[int] = set()  # which sequences came more than once
        self.reorders = 0
        self.last = -1
        self.highest = -1

    def add(self, seq: int) -> None:
        byte, bit = divmod(seq, 8)
        if byte >= len(self.bits):
            self.bits.extend(bytes(max(byte + 1 - len(self.bits), len(self.bits))))
        if self.bits[byte] & (1 << bit):
            self.duplicates += 1
            self.duplicated.add(seq)
            return
        self.bits[byte] |= 1 << bit
        self.count += 1
        if seq < self.last:
            self.reorders += 1
        self.last = seq
        self.highest = max(self.highest, seq)

    def has(self, seq: int) -> bool:
        byte, bit = divmod(seq, 8)
        return byte < len(self.bits) and bool(self.bits[byte] & (1 << bit))

    def missing(self, top: int | None = None) -> list[int]:
        """The sequences below ``top`` (default: the highest + 1) that never came."""
        end = self.highest + 1 if top is None else top
        return [seq for seq in range(end) if not self.has(seq)]

    def summary(self) -> dict[str, int]:
        """Processed count, highest, and where the unbroken run that ends at the highest starts
        (``tail_from``); ``missing`` counts the holes below the highest."""
        tail_from = self.highest
        while tail_from > 0 and self.has(tail_from - 1):
            tail_from -= 1
        return {
            "processed": self.count,
            "highest": self.highest,
            "tail_from": tail_from,
            "missing": self.highest + 1 - self.count,
            "duplicates": self.duplicates,
            "reorders": self.reorders,
        }


def against_sent(sent: dict[int, int], summaries: dict[str, dict[str, int]]) -> tuple[int, int]:
    """``(lost, beyond)``: what publishers counted as sent (sequences 0..n-1 per publisher id)
    against the receiver's :meth:`Sequences.summary` per publisher. Lost: sent and never
    processed. Beyond: processed above what was counted as sent, i.e. published but not yet
    acknowledged when the publisher stopped (neither a loss nor a duplicate)."""
    lost = beyond = 0
    for pid, count in sent.items():
        seen = summaries.get(str(pid))
        if seen is None:
            lost += count
            continue
        lost += seen["missing"] + max(0, count - 1 - seen["highest"])
        beyond += max(0, seen["highest"] + 1 - count)
    return lost, beyond


@dataclasses.dataclass(frozen=True)
class SequenceReport:
    """What the sequence headers of a set of messages say, per publisher."""

    received: int
    gaps: dict[int, list[int]]
    duplicates: dict[int, list[int]]
    out_of_order: dict[int, int]

    @property
    def clean(self) -> bool:
        return not (self.gaps or self.duplicates or self.out_of_order)


def sequence_report(
    messages: Iterable[Message], expected: dict[int, int] | None = None
) -> SequenceReport:
    """Gaps, duplicates and reorderings among sequence-numbered messages.

    ``expected`` maps publisher id -> number sent, so missing messages at the end count as gaps.
    """
    seen: dict[int, Sequences] = {}
    count = 0
    for message in messages:
        header = unpack_header(message.payload)
        if header is not None:
            seen.setdefault(header.publisher_id, Sequences()).add(header.sequence)
            count += 1
    expected = expected or {}
    gaps, duplicates, out_of_order = {}, {}, {}
    for pid in set(seen) | set(expected):
        sequences = seen.get(pid) or Sequences()
        missing = sequences.missing(expected.get(pid))
        if missing:
            gaps[pid] = missing
        if sequences.duplicated:
            duplicates[pid] = sorted(sequences.duplicated)
        if sequences.reorders:
            out_of_order[pid] = sequences.reorders
    return SequenceReport(count, gaps, duplicates, out_of_order)
