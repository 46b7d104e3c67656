"""Helpers for tests that need real MQTT traffic; usable with or without pytest.

- :class:`Recorder`: a callback that records every message and lets a test wait for them.
- :class:`Publisher`: one paho connection; ``publish`` returns once the publish is complete
  (PUBACK for QoS 1/2, written to the socket for QoS 0); ``burst`` sends sequence-numbered
  payloads.
- The sequence header (:func:`pack_header`, :func:`unpack_header`): 22 bytes at the start of a
  payload, big-endian: ``b"MS"``, publisher id (uint32), sequence (uint64, from 0), send time
  (float64, ``time.time()``); the rest of the payload is padding.

Every wait here is on a signal (a condition variable or paho's acknowledgement), with a timeout
whose error says what was expected and what was seen.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

from ._errors import ConfigError
from ._message import Message
from ._url import BrokerURL, parse_broker
from .subscriber import Subscriber, is_async_callable
from .transports import paho as _paho

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


def sequenced_payload(publisher_id: int, sequence: int, size: int = HEADER.size) -> bytes:
    header = pack_header(publisher_id, sequence)
    return header + b"." * max(0, size - len(header))


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
    seen: dict[int, list[int]] = {}
    count = 0
    for message in messages:
        header = unpack_header(message.payload)
        if header is not None:
            seen.setdefault(header.publisher_id, []).append(header.sequence)
            count += 1
    gaps, duplicates, out_of_order = {}, {}, {}
    for pid in set(seen) | set(expected or {}):
        seqs = seen.get(pid, [])
        top = (expected or {}).get(pid, max(seqs, default=-1) + 1)
        missing = sorted(set(range(top)) - set(seqs))
        if missing:
            gaps[pid] = missing
        dups = sorted(s for s, n in _counts(seqs).items() if n > 1)
        if dups:
            duplicates[pid] = dups
        backwards = sum(1 for a, b in itertools.pairwise(seqs) if b < a)
        if backwards:
            out_of_order[pid] = backwards
    return SequenceReport(count, gaps, duplicates, out_of_order)


def _counts(values: list[int]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


class Recorder:
    """A callback that records messages, runs an optional inner callback, and lets you wait.

    ``Subscriber(..., callback=recorder)``; then ``recorder.wait_for(3)`` returns the first three
    messages or raises ``AssertionError`` listing what did arrive. Exceptions raised by the inner
    callback are recorded in ``errors`` and re-raised (so the subscriber counts them as failed).
    Use :func:`recorder_for` to get an :class:`AsyncRecorder` for an ``async def`` callback.
    """

    def __init__(self, callback: Callable[[Message], Any] | None = None) -> None:
        self._callback = callback
        self._cond = threading.Condition()
        self._messages: list[Message] = []
        self.errors: list[BaseException] = []

    def __call__(self, message: Message) -> Any:
        try:
            result = self._callback(message) if self._callback is not None else None
        except BaseException as exc:
            self._record(message, exc)
            raise
        self._record(message, None)
        return result

    def _record(self, message: Message, error: BaseException | None) -> None:
        with self._cond:
            if error is not None:
                self.errors.append(error)
            self._messages.append(message)
            self._cond.notify_all()

    @property
    def messages(self) -> list[Message]:
        with self._cond:
            return list(self._messages)

    def clear(self) -> None:
        with self._cond:
            self._messages.clear()
            self.errors.clear()

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[Message]:
        """Wait until ``count`` messages were recorded; return the first ``count``."""
        __tracebackhide__ = True
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._messages) >= count, timeout):
                raise AssertionError(
                    f"expected {count} message(s) within {timeout:g}s, got "
                    f"{len(self._messages)}: {_describe(self._messages)}"
                )
            return self._messages[:count]

    def wait_until(
        self, predicate: Callable[[list[Message]], bool], timeout: float = 5.0
    ) -> list[Message]:
        """Wait until ``predicate(messages)`` is true; return the messages then."""
        __tracebackhide__ = True
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self._messages), timeout):
                raise AssertionError(
                    f"condition not met within {timeout:g}s; got {len(self._messages)} "
                    f"message(s): {_describe(self._messages)}"
                )
            return list(self._messages)

    async def async_wait_for(self, count: int = 1, timeout: float = 5.0) -> list[Message]:
        """:meth:`wait_for` for async tests: the event loop (and async callbacks) keep running."""
        return await asyncio.to_thread(self.wait_for, count, timeout)

    async def async_wait_until(
        self, predicate: Callable[[list[Message]], bool], timeout: float = 5.0
    ) -> list[Message]:
        return await asyncio.to_thread(self.wait_until, predicate, timeout)


class AsyncRecorder(Recorder):
    """A :class:`Recorder` around an ``async def`` callback; it is a coroutine function itself,
    so a subscriber runs it on its event loop."""

    async def __call__(self, message: Message) -> Any:
        try:
            result = await self._callback(message) if self._callback is not None else None
        except BaseException as exc:
            self._record(message, exc)
            raise
        self._record(message, None)
        return result


def recorder_for(callback: Callable[[Message], Any] | None = None) -> Recorder:
    """A recorder of the right kind for ``callback`` (async for an ``async def`` one)."""
    return AsyncRecorder(callback) if is_async_callable(callback) else Recorder(callback)


class RecordingSubscriber(Subscriber):
    """A :class:`Subscriber` whose callback is wrapped by a recorder (the callback still runs).

    ``sub.messages``, ``sub.wait_for(count, timeout)``, ``sub.wait_until(predicate, timeout)``,
    ``sub.errors``; ``async_wait_for`` / ``async_wait_until`` in async tests.
    """

    def __init__(
        self,
        broker: Any = "localhost",
        topic: Any = None,
        callback: Callable[[Message], Any] | None = None,
        **options: Any,
    ) -> None:
        self.recorder = recorder_for(callback)
        super().__init__(broker, topic, self.recorder, **options)

    @property
    def messages(self) -> list[Message]:
        return self.recorder.messages

    @property
    def errors(self) -> list[BaseException]:
        return list(self.recorder.errors)

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[Message]:
        __tracebackhide__ = True
        return self.recorder.wait_for(count, timeout)

    def wait_until(
        self, predicate: Callable[[list[Message]], bool], timeout: float = 5.0
    ) -> list[Message]:
        __tracebackhide__ = True
        return self.recorder.wait_until(predicate, timeout)

    async def async_wait_for(self, count: int = 1, timeout: float = 5.0) -> list[Message]:
        return await self.recorder.async_wait_for(count, timeout)

    async def async_wait_until(
        self, predicate: Callable[[list[Message]], bool], timeout: float = 5.0
    ) -> list[Message]:
        return await self.recorder.async_wait_until(predicate, timeout)


def _describe(messages: list[Message], limit: int = 10) -> str:
    shown = ", ".join(f"{m.topic}={m.payload[:40]!r}" for m in messages[:limit])
    more = f" ... and {len(messages) - limit} more" if len(messages) > limit else ""
    return f"[{shown}{more}]"


# friendly name -> paho's property name
PUBLISH_PROPERTIES: dict[str, str] = {
    "user_properties": "UserProperty",
    "message_expiry": "MessageExpiryInterval",
    "response_topic": "ResponseTopic",
    "correlation_data": "CorrelationData",
    "content_type": "ContentType",
    "payload_format": "PayloadFormatIndicator",
}


class Publisher:
    """One paho connection, kept open (amqtt loses messages whose publisher disconnects at once).

    ``connect()`` returns after CONNACK; ``publish()`` after PUBACK (QoS 1/2) or once written
    (QoS 0); ``burst()`` publishes sequence-numbered payloads.
    """

    _ids = itertools.count(1)

    def __init__(
        self, broker: str | BrokerURL, *, client_id: str | None = None, protocol: int = 4
    ) -> None:
        if protocol not in (4, 5):
            raise ConfigError(f"protocol must be 4 (3.1.1) or 5, got {protocol!r}")
        self.url = broker if isinstance(broker, BrokerURL) else parse_broker(broker)
        self.protocol = protocol
        self.publisher_id = (os.getpid() << 12 | next(self._ids)) & 0xFFFFFFFF
        self._sequence = itertools.count()
        self._client = _paho.make_client(
            client_id=client_id or f"mqtt-surge-pub-{uuid.uuid4().hex[:10]}",
            protocol=protocol,
            clean_session=True if protocol == 4 else None,
            manual_ack=False,
            url=self.url,
            tls=None,
        )
        self._connected = threading.Event()
        self._connect_rc: Any = None
        self._client.on_connect = self._on_connect
        # paho caps queued QoS>0 publishes; bursts wait on each batch instead of failing
        self._client.max_queued_messages_set(0)
        self._client.max_inflight_messages_set(1000)

    def _on_connect(self, _c: object, _u: object, _f: object, rc: Any, _p: object) -> None:
        self._connect_rc = rc
        self._connected.set()

    def connect(self, timeout: float = 10.0) -> Publisher:
        self._client.connect_async(self.url.host, self.url.port)
        self._client.loop_start()
        if not self._connected.wait(timeout):
            self.close()
            raise AssertionError(f"publisher got no CONNACK from {self.url} within {timeout:g}s")
        if getattr(self._connect_rc, "is_failure", False):
            self.close()
            raise AssertionError(f"{self.url} refused the publisher: {self._connect_rc}")
        return self

    def publish(
        self,
        topic: str,
        payload: bytes | str = b"",
        qos: int = 0,
        retain: bool = False,
        timeout: float = 10.0,
        *,
        properties: Mapping[str, Any] | None = None,
    ) -> None:
        """Publish and wait until complete. ``properties`` (MQTT 5, ``protocol=5``):
        ``user_properties`` (pairs or a dict), ``message_expiry`` (s), ``response_topic``,
        ``correlation_data``, ``content_type``, ``payload_format`` (0 bytes, 1 UTF-8)."""
        props = self._properties(properties) if properties else None
        info = self._client.publish(topic, payload, qos, retain, properties=props)
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise AssertionError(f"publish to {topic!r} (QoS {qos}) not complete in {timeout:g}s")

    def burst(
        self,
        topic: str,
        n: int,
        *,
        qos: int = 0,
        size: int = HEADER.size,
        rate: float | None = None,
        timeout: float = 30.0,
    ) -> list[int]:
        """Publish ``n`` sequence-numbered payloads; return their sequence numbers.

        ``rate`` (messages per second) paces them; without it they go as fast as paho can.
        Returns once every one is complete (PUBACK, or written for QoS 0).
        """
        infos, sequences = [], []
        started = time.monotonic()
        for i in range(n):
            if rate:
                pause = started + i / rate - time.monotonic()
                if pause > 0:
                    time.sleep(pause)  # pace: the caller asked for this rate
            seq = next(self._sequence)
            sequences.append(seq)
            infos.append(
                self._client.publish(topic, sequenced_payload(self.publisher_id, seq, size), qos)
            )
        deadline = time.monotonic() + timeout
        for info in infos:
            info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            if not info.is_published():
                raise AssertionError(f"burst of {n} to {topic!r} not complete in {timeout:g}s")
        return sequences

    def _properties(self, given: Mapping[str, Any]) -> Any:
        if self.protocol != 5:
            raise ConfigError(
                "MQTT 5 properties need a protocol=5 publisher (in pytest: mark the test "
                "@pytest.mark.mqtt_broker(protocol=5))"
            )
        unknown = set(given) - set(PUBLISH_PROPERTIES)
        if unknown:
            raise ConfigError(
                f"unknown publish properties {sorted(unknown)}: use {', '.join(PUBLISH_PROPERTIES)}"
            )
        from paho.mqtt.packettypes import PacketTypes  # noqa: PLC0415
        from paho.mqtt.properties import Properties  # noqa: PLC0415

        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        for name, value in given.items():
            pairs = name == "user_properties" and isinstance(value, Mapping)
            setattr(props, PUBLISH_PROPERTIES[name], list(value.items()) if pairs else value)
        return props

    @property
    def client(self) -> Any:
        return self._client

    def close(self) -> None:
        _paho.close(self._client)

    def __enter__(self) -> Publisher:
        return self.connect()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
