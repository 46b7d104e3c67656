"""Fleets: thousands of devices in one Locust process, each with an MQTT connection of its own.

A device here is a client id, a TCP connection, a publisher id (so the probe checks loss, order
and latency per device) and a schedule: ``--mqtt-device-rate`` messages per second. There is no
client library per device: no paho thread, no select loop. Locust runs on gevent, so each
connection is a gevent socket, written from one publishing loop per Locust user (one greenlet
drives all of that user's devices, spread evenly over each round) and, at QoS 1, read by one
small greenlet per device that counts its PUBACKs. Packets are pre-framed by
:mod:`mqtt_surge._wire` (MQTT 3.1.1).

Request events, so that Locust's statistics stay cheap at fleet scale: one ``connect`` per
device (its CONNACK time), and one ``publish`` per round per Locust user, whose response time is
the time spent writing the round (not its pauses) and ``response_length`` the messages it sent;
``reconnect`` per device whose connection ended and was opened again.

A device whose connection ends (the broker closed it, a write failed) reconnects, as a real
device does, after a back-off of 1 s doubling to 30 s with jitter (so that a broker that
dropped thousands at once is not hit by all of them in the same second), from 1 s again after
a success. ``--host`` may list several brokers (``mqtt://a:1883,mqtt://b:1883``): the devices
are spread over them in turn, for fleets larger than one broker process may hold.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import socket
import time
import uuid
from typing import Any, ClassVar

import gevent
from gevent.pool import Pool
from locust import User, task

from ..mqtt.codec import Reader, split_packet
from ..mqtt.packets import PUBACK
from ..runtime.url import parse_broker
from ..runtime.wire import DISCONNECT, encode_publish, open_session
from ..testing import new_publisher_id, sequenced_payload
from .run import SENT

REQUEST_TYPE = "MQTT-FLEET"


RECONNECT_MIN, RECONNECT_MAX = 1.0, 30.0  # seconds: a device's back-off, doubling between


class Device:
    """One device: its socket (None while it reconnects), publisher id, sequence, packet ids."""

    __slots__ = (
        "client_id",
        "inflight",
        "mids",
        "publisher_id",
        "sequence",
        "sock",
        "topic",
        "url",
    )

    def __init__(self, client_id: str, topic: str, sock: socket.socket | None, url: Any) -> None:
        self.client_id = client_id
        self.topic = topic
        self.sock: socket.socket | None = sock
        self.url = url
        self.publisher_id = new_publisher_id()
        self.sequence = itertools.count()
        self.mids = itertools.cycle(range(1, 65536))
        self.inflight: dict[int, int] = {}  # packet id -> publisher id, until PUBACK

    def publish(self, qos: int, size: int) -> OSError | None:
        """Publish the next message; the error if the connection failed."""
        if self.sock is None:
            return None  # reconnecting: nothing to publish on
        payload = sequenced_payload(self.publisher_id, next(self.sequence), size)
        mid = next(self.mids) if qos else 0
        if qos:
            self.inflight[mid] = self.publisher_id
        try:
            self.sock.sendall(encode_publish(self.topic, payload, qos=qos, mid=mid))
        except OSError as exc:
            return exc
        if not qos:
            SENT.add(self.publisher_id)  # QoS 0: sent once written
        return None

    def read_acks(self, sock: socket.socket) -> None:
        """Count PUBACKs until the connection ends (a greenlet of its own, QoS 1 only)."""
        buffer = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while (framed := split_packet(buffer)) is not None:
                first, start, end = framed
                if first >> 4 != PUBACK or end - start < 2:
                    return  # not ours to read: leave the connection to its end
                mid = Reader(buffer[start:end]).u16()
                buffer = buffer[end:]
                publisher_id = self.inflight.pop(mid, None)
                if publisher_id is not None:
                    SENT.add(publisher_id)

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.sendall(DISCONNECT)
            sock.close()


class MqttFleetUser(User):
    """An abstract Locust user that holds a fleet of devices, each its own MQTT connection.

    Configure by class attributes (each has an option that overrides it):

    - ``devices`` (100; ``--mqtt-fleet-devices``): devices per Locust user; 100 users x 100
      devices is a fleet of 10,000.
    - ``device_rate`` (1.0 msg/s; ``--mqtt-device-rate``): what each device publishes.
    - ``qos`` (0; ``--mqtt-qos``), ``payload_size`` (64 bytes, at least the sequence header).
    - ``topic``: ``{prefix}/{user}/{device}``; ``{prefix}`` is ``--mqtt-topic``, which the
      probe subscribes to.
    - ``connect_concurrency`` (50): devices of one user connecting at once.
    - ``connect_timeout`` (30 s) per device.
    """

    abstract = True
    devices: ClassVar[int] = 100
    device_rate: ClassVar[float] = 1.0
    qos: ClassVar[int] = 0
    payload_size: ClassVar[int] = 64
    topic: ClassVar[str] = "{prefix}/{user}/{device}"
    connect_concurrency: ClassVar[int] = 50
    connect_timeout: ClassVar[float] = 30.0

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.user_id = uuid.uuid4().hex[:8]
        self.fleet: list[Device] = []
        self._readers: set[gevent.Greenlet] = set()  # one per QoS 1 device's connection
        self._reconnecting: set[gevent.Greenlet] = set()
        self._stopping = False
        options = environment.parsed_options
        self._devices = int(getattr(options, "mqtt_fleet_devices", 0) or 0) or self.devices
        self._rate = float(getattr(options, "mqtt_device_rate", 0) or 0) or self.device_rate
        chosen = getattr(options, "mqtt_qos", None)
        self._qos = self.qos if chosen is None else int(chosen)

    def on_start(self) -> None:
        urls = [parse_broker(one) for one in (self.host or "localhost").split(",")]
        prefix = getattr(self.environment.parsed_options, "mqtt_topic", None) or "mqtt-surge/load"
        pool = Pool(self.connect_concurrency)
        for index in range(self._devices):
            pool.spawn(self._connect, urls[index % len(urls)], prefix, index)
        pool.join()

    def _open(self, device: Device, name: str) -> Exception | None:
        """Connect ``device``; the error if it could not, reported as request ``name``."""
        started = time.perf_counter()
        error: Exception | None = None
        try:
            device.sock = open_session(
                device.url, timeout=self.connect_timeout, client_id=device.client_id, keepalive=0
            )
        except Exception as exc:  # a failed connect is counted, not raised
            error = exc
        else:
            if self._qos:
                reader = gevent.spawn(self._read, device, device.sock)
                self._readers.add(reader)
                reader.link(self._readers.discard)  # a reconnect's new reader replaces it
        self.environment.events.request.fire(
            request_type=REQUEST_TYPE,
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=error,
            context={},
        )
        return error

    def _connect(self, url: Any, prefix: str, index: int) -> None:
        topic = self.topic.format(prefix=prefix, user=self.user_id, device=index)
        device = Device(f"fleet-{self.user_id}-{index}", topic, None, url)
        if self._open(device, "connect") is None:
            self.fleet.append(device)  # one that never connected stays out, as it did

    def _read(self, device: Device, sock: socket.socket) -> None:
        device.read_acks(sock)
        if device.sock is sock and not self._stopping:  # the broker ended it: not us
            self._lost(device)

    def _lost(self, device: Device) -> None:
        """The device's connection ended: close it, and connect again in the background."""
        sock, device.sock = device.sock, None
        if sock is not None:
            sock.close()
        greenlet = gevent.spawn(self._reconnect, device)
        self._reconnecting.add(greenlet)
        greenlet.link(self._reconnecting.discard)

    def _reconnect(self, device: Device) -> None:
        delay = RECONNECT_MIN
        while not self._stopping:
            gevent.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 - pace: back-off, jittered
            if self._stopping or self._open(device, "reconnect") is None:
                return
            delay = min(delay * 2, RECONNECT_MAX)

    @task
    def publish_round(self) -> None:
        """Every device publishes once, spread evenly over one round (1 / device_rate s)."""
        fleet, qos, size = self.fleet, self._qos, self.payload_size
        if not fleet:
            gevent.sleep(1.0)  # pace: nothing connected, nothing to publish
            return
        period = 1.0 / self._rate
        began = time.monotonic()
        chunks = max(1, min(len(fleet), int(period * 50)))  # about 50 wake-ups a second
        per_chunk = -(-len(fleet) // chunks)
        sent, error, writing = 0, None, 0.0
        for index in range(0, len(fleet), per_chunk):
            wrote = time.perf_counter()
            for device in fleet[index : index + per_chunk]:
                if device.sock is None:
                    continue  # reconnecting
                failed = device.publish(qos, size)
                if failed is None:
                    sent += 1
                else:
                    error = failed
                    self._lost(device)
            writing += time.perf_counter() - wrote
            due = began + period * (index + per_chunk) / len(fleet)
            gevent.sleep(max(0.0, due - time.monotonic()))  # pace: spread the round over its period
        self.environment.events.request.fire(
            request_type=REQUEST_TYPE,
            name=f"publish:{qos}",
            response_time=writing * 1000,  # time spent writing the round, not its pauses
            response_length=sent,
            exception=error,
            context={},
        )

    def on_stop(self) -> None:
        self._stopping = True
        gevent.killall(list(self._reconnecting), block=False)
        for device in self.fleet:
            device.close()
        gevent.killall(list(self._readers), block=False)
        self.fleet.clear()
