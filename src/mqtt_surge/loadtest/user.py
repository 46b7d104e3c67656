"""MqttPublisherUser: a Locust user publishing sequence-numbered messages (paho or raw client)."""

from __future__ import annotations

import itertools
import json
import string
import threading
import time
import uuid
from typing import Any, ClassVar

from locust import User

from ..mqtt.codec import USER_PROPERTY
from ..runtime.errors import ConfigError
from ..runtime.url import parse_broker
from ..runtime.wire import open_session
from ..subscriber.transports import paho as _paho
from ..testing import new_publisher_id, publisher_client, sequenced_payload
from ..testing.sequence import (
    FIELD_PREFIX,
    SEQUENCE_PROPERTY,
    check_carrier,
    pack_header,
    sequence_text,
)
from .raw import RawConnection
from .run import SENT

REQUEST_TYPE = "MQTT"
CLIENTS = ("paho", "raw")


def paced() -> Any:
    """A ``wait_time`` that holds each user to ``--mqtt-rate`` messages per second (batches
    included); with rate 0 it never waits."""

    def wait_time(user: MqttPublisherUser) -> float:
        options = user.environment.parsed_options
        rate = float(getattr(options, "mqtt_rate", 0) or 0)
        if rate <= 0:
            return 0.0
        now = time.monotonic()
        batch = int(getattr(options, "mqtt_batch", 0) or 0) or user.batch
        interval = batch / rate
        previous = user.next_publish_at
        next_at = max(previous + interval, now) if previous else now + interval
        user.next_publish_at = next_at
        return max(0.0, next_at - now)

    return wait_time


class MqttPublisherUser(User):
    """An abstract Locust user with one paho connection, opened in ``on_start``.

    Configure by class attributes:

    - ``topic``: where to publish; ``{prefix}`` is replaced by ``--mqtt-topic`` (which the probe
      subscribes to) and ``{user}`` by a per-user id.
    - ``qos`` (1; ``--mqtt-qos`` overrides it), ``payload_size`` (64 bytes, at least the 22-byte
      sequence header).
    - ``batch``: messages per request event (1; ``--mqtt-batch`` overrides it). A batch
      publishes that many messages and fires one event whose response time runs from the first
      publish to the last PUBACK (QoS 1) or to the last packet written (QoS 0: local write time,
      not delivery).
    - ``connect_timeout`` (10 s) for the CONNACK in ``on_start``; ``publish_timeout`` (30 s).
    - ``mqtt_client`` (``--mqtt-client`` overrides it): ``"paho"`` (any QoS, TCP, TLS,
      WebSockets) or ``"raw"``: pre-framed packets on a gevent socket, QoS 0 and 1 over TCP or
      TLS, several times paho's rate from one process (:mod:`mqtt_surge.loadtest.raw`;
      :class:`MqttFastPublisherUser` is this user with ``"raw"``).
    - ``wait_time``: :func:`paced` by default: ``--mqtt-rate`` messages per second per user
      (0: as fast as the acknowledgements come back).

    - ``payload``: your own payloads (None: padding after the sequence header). A callable
      ``payload(user, sequence)`` returning bytes, str or a dict (sent as JSON), or a template
      string with ``$user``, ``$seq`` and ``$time`` (``string.Template``: JSON braces need no
      escaping), e.g. ``'{"sensor": "$user", "n": $seq, "temp": 21.5}'``.
    - ``sequence_in`` (``--mqtt-sequence-in`` overrides it): where each message carries its
      publisher id, sequence and send time: ``"header"`` (22 bytes before the payload; any MQTT
      version), ``"properties"`` (an MQTT 5 user property ``mqtt-surge-seq``: the payload stays
      yours byte for byte; the user and the probe then speak MQTT 5), or ``"field:NAME"`` (field
      NAME of a JSON object payload).

    The probe uses the sequence for latency, gaps, duplicates and order whichever carries it.
    Override :meth:`event_name` to rename the rows Locust shows (``publish:{qos}:{topic}``).
    """

    abstract = True
    topic: ClassVar[str] = "{prefix}/{user}"
    qos: ClassVar[int] = 1
    payload_size: ClassVar[int] = 64
    batch: ClassVar[int] = 1
    payload: ClassVar[Any] = None
    sequence_in: ClassVar[str] = "header"
    connect_timeout: ClassVar[float] = 10.0
    publish_timeout: ClassVar[float] = 30.0
    mqtt_client: ClassVar[str] = "paho"
    wait_time = paced()

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.user_id = uuid.uuid4().hex[:8]
        self.publisher_id = new_publisher_id()
        self._sequence = itertools.count()
        self._client: Any = None
        self._lock = threading.Lock()  # gevent makes it a greenlet lock: see publish()
        self._pending: dict[int, int] = {}  # mid -> publisher id, until PUBACK / written
        self._all_done = threading.Event()
        self._connected = threading.Event()
        self._connect_rc: Any = None
        self.next_publish_at = 0.0  # when the pace lets this user publish next
        chosen = getattr(environment.parsed_options, "mqtt_sequence_in", None)
        self.carrier = check_carrier(chosen or self.sequence_in)
        client_kind = getattr(environment.parsed_options, "mqtt_client", None) or self.mqtt_client
        if client_kind not in CLIENTS:
            raise ConfigError(f"mqtt_client must be paho or raw, got {client_kind!r}")
        self.client_kind = client_kind
        self._raw: RawConnection | None = None

    @property
    def resolved_topic(self) -> str:
        options = self.environment.parsed_options
        prefix = getattr(options, "mqtt_topic", None) or "mqtt-surge/load"
        return self.topic.format(prefix=prefix, user=self.user_id)

    def event_name(self, qos: int, topic: str) -> str:
        """The request name Locust shows for a publish; override to group differently."""
        return f"publish:{qos}:{topic}"

    def on_start(self) -> None:
        url = parse_broker(self.host or "localhost")
        if self.client_kind == "raw":
            self._start_raw(url)
            return
        # no cap on QoS 1 in flight: a batch goes out at once
        protocol = 5 if self.carrier == "properties" else 4
        client = publisher_client(url, f"locust-{self.user_id}", protocol=protocol, inflight=0)
        client.on_connect = self._on_connect
        client.on_publish = self._on_publish
        self._client = client
        started = time.perf_counter()
        client.connect_async(url.host, url.port)
        client.loop_start()
        error: Exception | None = None
        if not self._connected.wait(self.connect_timeout):
            error = ConnectionError(f"no CONNACK from {url} within {self.connect_timeout:g}s")
        elif _paho.is_failure(self._connect_rc):
            error = ConnectionError(f"{url} refused the connection: {self._connect_rc}")
        self._fire("connect", "connect", started, 0, error)
        if error is not None:
            raise error  # locust logs it; the user stops

    def _start_raw(self, url: Any) -> None:
        if url.websocket:
            raise ConfigError(f"the raw client speaks TCP or TLS, not WebSockets ({url.redacted})")
        chosen = getattr(self.environment.parsed_options, "mqtt_qos", None)
        if (self.qos if chosen is None else int(chosen)) > 1:
            raise ConfigError("the raw client publishes at QoS 0 or 1: QoS 2 needs the paho client")
        level = 5 if self.carrier == "properties" else 4
        started = time.perf_counter()
        error: Exception | None = None
        try:
            sock = open_session(
                url,
                timeout=self.connect_timeout,
                client_id=f"locust-{self.user_id}",
                keepalive=0,  # no PINGREQ is ever sent: no keepalive limit to keep
                level=level,
            )
        except Exception as exc:  # reported as the connect event, then raised as paho's is
            error = exc
        else:
            self._raw = RawConnection(sock, v5=level == 5)
        self._fire("connect", "connect", started, 0, error)
        if error is not None:
            raise error

    def on_stop(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        if self._client is not None:
            _paho.close(self._client)
            self._client = None

    def _on_connect(self, _c: object, _u: object, _f: object, rc: Any, _p: object) -> None:
        self._connect_rc = rc
        self._connected.set()

    def _on_publish(self, _c: object, _u: object, mid: int, _rc: object, _p: object) -> None:
        # paho can call this (QoS 0) before publish() has returned the mid to us: the mid is
        # registered under the same lock, so we get here only once it is in _pending
        with self._lock:
            publisher_id = self._pending.pop(mid, None)
            if not self._pending:
                self._all_done.set()
        if publisher_id is not None:
            # sent = acknowledged by the broker (QoS 1) or written (QoS 0): what a user stopped
            # mid-batch never got out is not counted
            SENT.add(publisher_id)

    def new_burst(self) -> None:
        """Start a new sequence under a new publisher id (e.g. one per burst)."""
        self.publisher_id = new_publisher_id()
        self._sequence = itertools.count()

    def publish(
        self,
        topic: str | None = None,
        *,
        qos: int | None = None,
        batch: int | None = None,
        payload_size: int | None = None,
    ) -> int:
        """Publish ``batch`` sequence-numbered messages as one request event; return how many
        were published."""
        topic = topic or self.resolved_topic
        if qos is None:
            chosen = getattr(self.environment.parsed_options, "mqtt_qos", None)
            qos = self.qos if chosen is None else int(chosen)
        count = batch or int(getattr(self.environment.parsed_options, "mqtt_batch", 0) or 0)
        count = count or self.batch
        size = payload_size or self.payload_size
        if self._raw is not None:
            return self._publish_raw(topic, qos, count, size)
        client = self._client
        started = time.perf_counter()
        error: Exception | None = None
        published = 0
        with self._lock:
            self._all_done.clear()
            for _ in range(count):
                payload, properties = self.message(next(self._sequence), size)
                info = client.publish(topic, payload, qos, properties=properties)
                if info.rc:
                    error = RuntimeError(f"publish failed: {_paho.error_string(info.rc)}")
                    break
                self._pending[info.mid] = self.publisher_id
                published += 1
            if not self._pending:
                self._all_done.set()
        if error is None and not self._all_done.wait(self.publish_timeout):
            error = TimeoutError(
                f"{len(self._pending)} of {count} publishes not complete in "
                f"{self.publish_timeout:g}s"
            )
        self._fire(
            self.event_name(qos, topic), "publish", started, published * size, error, published
        )
        return published

    def _publish_raw(self, topic: str, qos: int, count: int, size: int) -> int:
        assert self._raw is not None
        started = time.perf_counter()
        own = self.payload is not None or self.carrier != "header"
        published, error = self._raw.publish(
            topic,
            qos,
            self.publisher_id,
            self._sequence,
            count,
            size,
            self.publish_timeout,
            message=self._raw_message if own else None,
        )
        self._fire(
            self.event_name(qos, topic), "publish", started, published * size, error, published
        )
        return published

    def _raw_message(self, sequence: int, size: int) -> tuple[bytes, dict[int, Any] | None]:
        payload, text = self._parts(sequence, size)
        return payload, None if text is None else {USER_PROPERTY: [(SEQUENCE_PROPERTY, text)]}

    def message(self, sequence: int, size: int) -> tuple[bytes, Any]:
        """The payload and MQTT 5 properties of message ``sequence``, the sequence where
        ``sequence_in`` says."""
        payload, text = self._parts(sequence, size)
        if text is None:
            return payload, None
        return payload, _paho.publish_properties({"UserProperty": [(SEQUENCE_PROPERTY, text)]})

    def _parts(self, sequence: int, size: int) -> tuple[bytes, str | None]:
        """The payload, and the sequence text when it travels in a user property."""
        if self.payload is None and self.carrier == "header":
            return sequenced_payload(self.publisher_id, sequence, size), None
        body = self._body(sequence)
        if self.carrier == "header":
            return pack_header(self.publisher_id, sequence) + _as_bytes(body, size), None
        text = sequence_text(self.publisher_id, sequence)
        if self.carrier == "properties":
            return _as_bytes(body, size), text
        document = body if isinstance(body, dict) else json.loads(body or "{}")
        if not isinstance(document, dict):
            raise ConfigError(f"sequence_in={self.carrier!r} needs a JSON object payload")
        document[self.carrier[len(FIELD_PREFIX) :]] = text
        return json.dumps(document).encode(), None

    def _body(self, sequence: int) -> Any:
        if self.payload is None or isinstance(self.payload, (bytes, dict)):
            return self.payload
        if isinstance(self.payload, str):
            return string.Template(self.payload).substitute(
                user=self.user_id, seq=sequence, time=time.time()
            )
        return type(self).payload(self, sequence)

    def _fire(
        self,
        name: str,
        _what: str,
        started: float,
        length: int,
        error: Exception | None,
        messages: int = 0,
    ) -> None:
        # one event per request, from one place (as locust's own clients do)
        self.environment.events.request.fire(
            request_type=REQUEST_TYPE,
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=length,
            exception=error,
            context={"messages": messages},
        )


def _as_bytes(body: Any, size: int) -> bytes:
    """A payload as bytes: bytes as they are, text as UTF-8, a dict as JSON, None as padding."""
    if body is None:
        return b"." * size
    if isinstance(body, bytes):
        return body
    if isinstance(body, dict):
        return json.dumps(body).encode()
    return str(body).encode()


class MqttFastPublisherUser(MqttPublisherUser):
    """:class:`MqttPublisherUser` on the raw client: pre-framed QoS 0 / 1 packets on a gevent
    socket, 100 messages per request event by default (one event per batch keeps Locust's own
    statistics off the profile). Same options, sequence carriers and checks."""

    abstract = True
    mqtt_client: ClassVar[str] = "raw"
    batch: ClassVar[int] = 100
