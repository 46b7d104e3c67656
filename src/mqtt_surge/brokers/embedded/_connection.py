"""One client's connection: bytes in, whole packets out to the broker, refused as early as the
bytes show they must be."""

from __future__ import annotations

import asyncio
from typing import Protocol

from ...mqtt import codec, packets
from .._base import logger
from ._inspect import WHOLE, PacketLog
from ._state import INFLIGHT_WINDOW, Session, Will


class Broker(Protocol):
    """What a connection asks of the broker."""

    max_packet_size: int
    connections: set[Connection]
    packets: PacketLog

    def now(self) -> float: ...

    def handle(self, conn: Connection, first: int, body: bytes) -> None: ...

    def closed(self, conn: Connection) -> None: ...

    def resumed(self, conn: Connection) -> None: ...


class Connection(asyncio.Protocol):
    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.session: Session | None = None
        self.connected = False  # its CONNECT was accepted
        self.v5 = False
        self.keepalive = 0
        self.last_in = broker.now()  # when its last whole packet arrived (the broker's clock)
        self.aliases: dict[int, str] = {}  # the client's topic aliases
        self.alias_out_max = 0  # ours, on what we send it (outgoing_topic_aliases)
        self.aliases_out: dict[str, int] = {}
        self.username: str | None = None
        self.connect_packet: packets.Connect | None = None  # its CONNECT, once accepted
        self.clean_disconnect = False
        self.window = INFLIGHT_WINDOW
        self.max_packet = codec.MAX_PACKET_SIZE  # the most it accepts from us (MQTT 5 CONNECT)
        self.will: Will | None = None
        self.client_id = ""
        self.connect_expiry = 0.0  # the session expiry its CONNECT asked for
        self.paused = False  # asyncio says its socket is not being drained
        self.out: list[bytes] = []  # packets written this turn of the loop, sent at its end
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- asyncio ---------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport
        self._loop = asyncio.get_running_loop()
        self.broker.connections.add(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        broker = self.broker
        log = broker.packets
        now = broker.now()  # one reading for the packets that arrived together
        try:
            while (packet := self._next_packet()) is not None:
                # keepalive counts whole control packets, not bytes [MQTT-3.1.2-24]
                self.last_in = now
                if log.enabled:
                    log.record(now, self.client_id, "in", *packet, self.v5)
                broker.handle(self, *packet)
                transport = self.transport
                if transport is None or transport.is_closing():
                    return
        except codec.PacketError as exc:
            self.refuse(exc)

    def pause_writing(self) -> None:
        # the client does not read as fast as we write: what we hold for it is bounded now
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self.broker.resumed(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.out.clear()
        self.broker.connections.discard(self)
        self.broker.closed(self)
        self.transport = None

    def certificate_name(self) -> str | None:
        """The common name of the client's TLS certificate, if it presented one."""
        if self.transport is None:
            return None
        ssl_object = self.transport.get_extra_info("ssl_object")
        cert = ssl_object.getpeercert() if ssl_object is not None else None
        for rdn in (cert or {}).get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    return str(value)
        return None

    # -- framing ---------------------------------------------------------------------------------

    def _next_packet(self) -> tuple[int, bytes] | None:
        """The next whole packet, taken off the buffer; refused as soon as its first byte or its
        fixed header shows it cannot be accepted, before its body is read."""
        buffer = self.buffer
        if not buffer:
            return None
        if not self.connected and buffer[0] >> 4 != packets.CONNECT:
            raise codec.ProtocolError("the first packet must be CONNECT [MQTT-3.1.0-1]")
        header = codec.read_header(buffer)
        if header is None:
            return None
        start, end = header
        if end > self.broker.max_packet_size:
            raise codec.PacketError(
                f"a packet of {end} bytes, over the maximum of {self.broker.max_packet_size}",
                reason=0x95,
            )
        if len(buffer) < end:
            return None
        first, body = buffer[0], bytes(buffer[start:end])
        del buffer[:end]
        return first, body

    def refuse(self, exc: codec.PacketError) -> None:
        """Close on a bad packet: in MQTT 5, after CONNACK, with a DISCONNECT that says why."""
        logger.info(
            "embedded broker: closing the connection of %s: %s",
            repr(self.client_id) if self.client_id else "a client before CONNECT",
            exc,
        )
        self.buffer.clear()
        if self.v5 and self.connected:
            self.write(packets.encode_disconnect(exc.reason))
            self.close()
        else:
            self.abort()

    # -- writing and closing ---------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Queue one packet; the packets of one turn of the loop go out in one write at its
        end (a message routed to a client per packet read would otherwise cost a ``send``
        system call each: a third of the broker's time under fan-in)."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            log = self.broker.packets
            if log.enabled:
                # the packet as written; its header is split when a test reads it (one write
                # is one packet: every caller encodes one)
                log.record(self.broker.now(), self.client_id, "out", WHOLE, data, self.v5)
            out = self.out
            out.append(data)
            if len(out) == 1 and self._loop is not None:
                self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Send what this turn wrote. asyncio buffers what the socket does not take at once
        and calls pause_writing past its high-water mark, so a client that does not read
        holds at most one turn's packets more than before."""
        out = self.out
        if not out:
            return
        self.out = []
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(out[0] if len(out) == 1 else b"".join(out))

    def close(self) -> None:
        self.flush()  # what was written before the close goes first, as it did unqueued
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        # what was written before goes to the socket first, as it did unqueued (asyncio's abort
        # then drops only what the socket did not take)
        self.flush()
        if self.transport is not None:
            self.transport.abort()
