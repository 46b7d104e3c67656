"""FaultProxy's controls, against a real broker (mosquitto): each one takes effect at once and
heal() undoes it."""

from __future__ import annotations

import contextlib
import socket
import time

import pytest

from mqtt_surge import ConfigError, MosquittoBroker
from mqtt_surge.faults import FaultProxy

from ._support import WAIT, roundtrip


def test_forwards_and_counts(mosquitto: MosquittoBroker) -> None:
    with FaultProxy(mosquitto) as proxy:
        assert roundtrip(proxy.url) == b"hello"
        counts = proxy.counts()
        assert counts.connections == 1
        assert counts.bytes_up > 0
        assert counts.bytes_down > 0


def test_refuse_new_closes_new_connections_until_healed(mosquitto: MosquittoBroker) -> None:
    with FaultProxy(mosquitto) as proxy:
        with proxy.refuse_new(), socket.create_connection((proxy.host, proxy.port)) as s:
            s.settimeout(WAIT)
            with contextlib.suppress(ConnectionResetError):
                assert s.recv(1) == b""
        assert proxy.counts().refused == 1
        assert roundtrip(proxy.url) == b"hello"  # healed on leaving the block


def test_latency_delays_each_round_trip(mosquitto: MosquittoBroker) -> None:
    with FaultProxy(mosquitto) as proxy, proxy.latency(300):
        started = time.monotonic()
        assert roundtrip(proxy.url) == b"hello"
        # CONNECT, SUBSCRIBE, PUBLISH, each one way at least: a lower bound, never an upper
        assert time.monotonic() - started >= 0.9


def test_throttle_limits_bytes_per_second(mosquitto: MosquittoBroker) -> None:
    with FaultProxy(mosquitto) as proxy, proxy.throttle(2_000):
        started = time.monotonic()
        assert roundtrip(proxy.url, payload=b"x" * 6_000) == b"x" * 6_000
        assert time.monotonic() - started >= 2.0  # 6 kB each way at 2 kB/s


def test_bad_values_are_refused_at_the_boundary(mosquitto: MosquittoBroker) -> None:
    with FaultProxy(mosquitto) as proxy:
        with pytest.raises(ConfigError, match="latency"):
            proxy.latency(-1)
        with pytest.raises(ConfigError, match="bytes_per_s"):
            proxy.throttle(0)
    with pytest.raises(ConfigError, match="port"):
        FaultProxy(mosquitto, port=70000)
