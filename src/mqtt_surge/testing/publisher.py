"""The test publisher, and the one paho publisher set-up that the load suite uses too."""

from __future__ import annotations

import itertools
import ssl
import threading
import time
import uuid
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from ..runtime.errors import ConfigError
from ..runtime.url import BrokerURL, parse_broker
from ..subscriber.transports import paho as _paho
from .sequence import HEADER, new_publisher_id, sequenced_payload


def publisher_client(
    url: BrokerURL,
    client_id: str,
    *,
    protocol: int = 4,
    inflight: int,
    tls: ssl.SSLContext | None = None,
) -> Any:
    """A paho client set up to publish: a clean session, no cap on queued publishes (a burst
    waits on its acknowledgements instead of failing), ``inflight`` unacknowledged QoS > 0
    publishes at most (0: no cap). Connect it with ``connect_async`` + ``loop_start``. ``tls``:
    the context for an ``mqtts://`` or ``wss://`` URL (default: the system's trust)."""
    client = _paho.make_client(
        client_id=client_id,
        protocol=protocol,
        clean_session=True if protocol == 4 else None,
        manual_ack=False,
        url=url,
        tls=tls,
    )
    client.max_queued_messages_set(0)
    client.max_inflight_messages_set(inflight)
    return client


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

    def __init__(
        self,
        broker: str | BrokerURL | Any,
        *,
        client_id: str | None = None,
        protocol: int = 4,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        if protocol not in (4, 5):
            raise ConfigError(f"protocol must be 4 (3.1.1) or 5, got {protocol!r}")
        if not isinstance(broker, (str, BrokerURL)) and hasattr(broker, "url"):
            # a broker object: its URL and login, and its CA (and a client certificate) for TLS
            client_tls = getattr(broker, "client_tls", None)
            if tls is None and callable(client_tls):
                tls = client_tls()
            broker = broker.url
        self.url = broker if isinstance(broker, BrokerURL) else parse_broker(broker)
        self.protocol = protocol
        self.publisher_id = new_publisher_id()
        self._sequence = itertools.count()
        self._client = publisher_client(
            self.url,
            client_id or f"mqtt-surge-pub-{uuid.uuid4().hex[:10]}",
            protocol=protocol,
            inflight=1000,
            tls=tls,
        )
        self._connected = threading.Event()
        self._connect_rc: Any = None
        self._client.on_connect = self._on_connect

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
        return _paho.publish_properties(
            {
                PUBLISH_PROPERTIES[name]: list(value.items())
                if name == "user_properties" and isinstance(value, Mapping)
                else value
                for name, value in given.items()
            }
        )

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
