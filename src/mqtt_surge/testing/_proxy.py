"""The fault proxy's parts that hold no control: its counts, a proxied connection, the undo of
a fault, and a reset."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import struct
from types import TracebackType
from typing import Generic, Protocol, TypeVar

_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST, not FIN


@dataclasses.dataclass(frozen=True)
class ProxyCounts:
    """What went through the proxy since it started."""

    connections: int  # accepted, refused ones included
    open: int  # connections being forwarded now
    answered: int  # connections on which the broker sent something back (for MQTT: CONNACK)
    refused: int
    bytes_up: int  # client -> broker
    bytes_down: int  # broker -> client


class _Healable(Protocol):
    def heal(self) -> None: ...


P = TypeVar("P", bound=_Healable)


class _Fault(Generic[P]):
    """Undoes one control when used as a context manager (``with proxy.blackhole(): ...``)."""

    def __init__(self, proxy: P) -> None:
        self._proxy = proxy

    def __enter__(self) -> P:
        return self._proxy

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._proxy.heal()


class _Link:
    """One proxied connection: the client's socket, the broker's, and a pump each way."""

    def __init__(
        self,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        self.client = client
        self.upstream = upstream
        self.tasks: list[asyncio.Task[None]] = []

    def writers(self) -> tuple[asyncio.StreamWriter, asyncio.StreamWriter]:
        return self.client[1], self.upstream[1]


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    writer.transport.abort()
