"""The raw client of :class:`~mqtt_surge.loadtest.MqttPublisherUser` (``--mqtt-client raw``):
its messages framed here and written on a gevent socket, a batch at a time.

paho spends a thread hop, a lock and a message object per publish; at the rates a load test
wants from one Locust process that is what gets measured, not the broker (one process tops out
near 25,000 msg/s QoS 0 on paho). Here a batch is one ``sendall`` of packets framed by the MQTT
core from a prefix it computes once per topic and size (``publish_prefix``: fixed header and
topic name) and each message's packet id and sequence header (``frame_publish``), with no
general encoder call per message. A greenlet reads the
PUBACKs; the common 4-byte ones are read without building a packet object. Payloads of the
user's own, or a sequence carried in properties or a JSON field, go through the MQTT core's
``encode_publish`` instead: slower, same bytes.

QoS 0 and 1 only (QoS 2 is the paho client's); TCP and TLS, not WebSockets.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable
from typing import Any

import gevent
from gevent.event import Event

from ..mqtt.codec import Reader, split_packet
from ..mqtt.packets import DISCONNECT, PUBACK, encode_publish, frame_publish, publish_prefix
from ..runtime.errors import ConfigError
from ..runtime.wire import DISCONNECT as DISCONNECT_PACKET
from ..testing.sequence import HEADER, MAGIC
from .run import SENT

MAX_INFLIGHT = 65535  # packet ids
PUBACK_FIRST = PUBACK << 4  # its first byte: no flags
FREE = -1  # a packet id not in flight (publisher ids are >= 0)

# one message's payload and MQTT 5 properties, from the user (carriers other than the header)
Message = Callable[[int, int], tuple[bytes, dict[int, Any] | None]]


class RawConnection:
    """One MQTT connection opened by :func:`~mqtt_surge.runtime.wire.open_session`: writes
    batches, counts their PUBACKs into ``SENT`` per publisher id."""

    def __init__(self, sock: Any, *, v5: bool) -> None:
        self.sock = sock
        self.v5 = v5
        self.error: Exception | None = None
        self._inflight = [FREE] * 65536  # packet id -> publisher id awaiting its PUBACK
        self._outstanding = 0
        self._acked: dict[int, int] = {}  # publisher id -> PUBACKs not yet added to SENT
        self._settled = Event()
        self._settled.set()
        self._mids = itertools.cycle(range(1, 65536))
        self._reader = gevent.spawn(self._read)

    def publish(
        self,
        topic: str,
        qos: int,
        publisher_id: int,
        sequences: itertools.count[int],
        count: int,
        size: int,
        timeout: float,
        message: Message | None = None,
    ) -> tuple[int, Exception | None]:
        """Write ``count`` messages as one batch and, at QoS 1, wait for their PUBACKs; return
        how many were written (QoS 0) or acknowledged (QoS 1), and the error if any.
        ``message(sequence, size)`` gives payloads of the user's own (None: sequence header
        and padding)."""
        if qos not in (0, 1):
            raise ConfigError(f"the raw client publishes at QoS 0 or 1, not {qos}")
        if self.error is not None:
            return 0, self.error
        if qos and self._outstanding + count > MAX_INFLIGHT:
            raise ConfigError(
                f"a QoS 1 batch of {count} with {self._outstanding} unacknowledged exceeds the "
                f"{MAX_INFLIGHT} packet ids of one connection"
            )
        packets = self._frame(topic, qos, publisher_id, sequences, count, size, message)
        if qos:
            self._outstanding += count
            self._settled.clear()
        try:
            self.sock.sendall(b"".join(packets))
        except OSError as exc:
            self.error = exc
            return 0, exc
        if not qos:
            SENT.add(publisher_id, count)
            return count, None
        error: Exception | None = None
        if not self._settled.wait(timeout):
            error = TimeoutError(f"{self._outstanding} publishes not acknowledged in {timeout:g}s")
        return self._flush(), error or self.error

    def _frame(
        self,
        topic: str,
        qos: int,
        publisher_id: int,
        sequences: itertools.count[int],
        count: int,
        size: int,
        message: Message | None,
    ) -> list[bytes]:
        inflight, mids, v5 = self._inflight, self._mids, self.v5
        payload_size = max(size, HEADER.size)
        prefix = publish_prefix(topic, qos, payload_size, v5)
        padding = b"." * (payload_size - HEADER.size)
        header = HEADER.pack
        now = time.time()  # one send time per batch: the batch is written at once
        packets: list[bytes] = []
        for sequence in itertools.islice(sequences, count):
            mid = 0
            if qos:
                mid = next(mids)
                while inflight[mid] != FREE:
                    mid = next(mids)
                inflight[mid] = publisher_id
            if message is None:
                payload = header(MAGIC, publisher_id, sequence, now) + padding
                packets.append(frame_publish(prefix, qos, mid, payload, v5))
            else:  # the user's payload, or the sequence in its properties: the general encoder
                payload, props = message(sequence, size)
                packets.append(encode_publish(topic, payload, qos, mid=mid, v5=v5, props=props))
        return packets

    def _flush(self) -> int:
        acked = self._acked
        self._acked = {}
        for publisher_id, n in acked.items():
            SENT.add(publisher_id, n)
        return sum(acked.values())

    def _read(self) -> None:
        buffer = b""
        try:
            while chunk := self.sock.recv(262144):
                buffer = buffer + chunk if buffer else chunk
                buffer = buffer[self._consume(buffer) :]
            self.error = ConnectionError("the broker closed the connection")
        except Exception as exc:  # the connection's end, whatever ended it: publish() reports it
            self.error = exc
        finally:
            self._settled.set()

    def _consume(self, data: bytes) -> int:
        """Read the whole packets at the start of ``data``; return where the rest begins."""
        i, end = 0, len(data)
        inflight, acked = self._inflight, self._acked
        while i + 4 <= end:
            if data[i] == PUBACK_FIRST and data[i + 1] == 2:  # a PUBACK, success: most of all
                mid = data[i + 2] << 8 | data[i + 3]
                i += 4
            else:
                framed = split_packet(data[i:])
                if framed is None:
                    break
                first, start, stop = framed
                body = data[i + start : i + stop]
                i += stop
                if first >> 4 == DISCONNECT:
                    code = body[0] if body else 0
                    raise ConnectionError(f"the broker sent DISCONNECT (reason 0x{code:02X})")
                if first >> 4 != PUBACK:
                    continue  # PINGRESP and the like: nothing to count
                mid = Reader(body).u16()
                if len(body) > 2 and body[2] >= 0x80:  # MQTT 5: refused, not published
                    self.error = ConnectionError(f"PUBACK {mid} refused: reason 0x{body[2]:02X}")
                    publisher_id = inflight[mid]
                    inflight[mid] = FREE
                    if publisher_id != FREE:
                        self._settle_one()
                    continue
            publisher_id = inflight[mid]
            if publisher_id != FREE:
                inflight[mid] = FREE
                acked[publisher_id] = acked.get(publisher_id, 0) + 1
                self._settle_one()
        return i

    def _settle_one(self) -> None:
        self._outstanding -= 1
        if not self._outstanding:
            self._settled.set()

    def close(self) -> None:
        """DISCONNECT, close, and count what was acknowledged since the last batch."""
        with contextlib.suppress(OSError):  # already gone: closing is all that is left
            self.sock.sendall(DISCONNECT_PACKET)
        self.sock.close()
        self._reader.kill(block=False)
        self._flush()
