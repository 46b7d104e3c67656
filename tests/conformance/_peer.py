"""A test client for the conformance suite: paho, MQTT 3.1.1 or 5, every step waiting on its ack.

It exposes what the specification talks about (session present, DUP, granted QoS, properties),
not what the subscriber makes of it, so that the suite checks the broker and nothing else.
"""

from __future__ import annotations

import socket
import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from mqtt_surge import BrokerURL

WAIT = 10.0


def properties(packet: int, **values: Any) -> Properties:
    props = Properties(packet)
    for name, value in values.items():
        setattr(props, name, value)
    return props


class Peer:
    def __init__(
        self,
        url: BrokerURL,
        protocol: int,
        *,
        client_id: str | None = None,
        manual_ack: bool = False,
    ) -> None:
        self.url, self.protocol = url, protocol
        self.client_id = client_id or f"conf-{uuid.uuid4().hex[:10]}"
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=MQTTProtocolVersion.MQTTv5 if protocol == 5 else MQTTProtocolVersion.MQTTv311,
            manual_ack=manual_ack,
        )
        self.client.suppress_exceptions = True
        self.messages: list[mqtt.MQTTMessage] = []
        self._cond = threading.Condition()
        self._connack: threading.Event = threading.Event()
        self._flags: Any = None
        self._rc: Any = None
        self._acks: dict[int, threading.Event] = {}
        self._granted: dict[int, list[Any]] = {}
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_unsubscribe = lambda _c, _u, mid, *_a: self._ack(mid)

    # -- callbacks (paho's network thread) -------------------------------------------------------

    def _on_connect(self, _c: object, _u: object, flags: Any, rc: Any, _p: object) -> None:
        self._flags, self._rc = flags, rc
        self._connack.set()

    def _on_message(self, _c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()

    def _on_subscribe(self, _c: object, _u: object, mid: int, codes: list[Any], _p: object) -> None:
        self._granted[mid] = codes
        self._ack(mid)

    def _ack(self, mid: int) -> None:
        self._acks.setdefault(mid, threading.Event()).set()

    def _wait_ack(self, mid: int, what: str) -> None:
        assert self._acks.setdefault(mid, threading.Event()).wait(WAIT), f"no {what}"

    # -- what a test does ------------------------------------------------------------------------

    def connect(
        self,
        *,
        clean: bool = True,
        keepalive: int = 60,
        session_expiry: int | None = None,
        will: tuple[str, bytes, int, bool] | None = None,
        will_properties: Properties | None = None,
    ) -> bool:
        """Connect, wait for CONNACK; return its session-present flag (refusals raise)."""
        if will is not None:
            topic, payload, qos, retain = will
            self.client.will_set(topic, payload, qos, retain, properties=will_properties)
        props = None
        if self.protocol == 5:
            props = properties(PacketTypes.CONNECT)
            if session_expiry is not None:
                props.SessionExpiryInterval = session_expiry
            self.client.connect(
                self.url.host, self.url.port, keepalive, clean_start=clean, properties=props
            )
        else:
            self.client._clean_session = clean
            self.client.connect(self.url.host, self.url.port, keepalive)
        self.client.loop_start()
        assert self._connack.wait(WAIT), "no CONNACK"
        failed = getattr(self._rc, "is_failure", False)
        assert not failed, f"CONNECT refused: {self._rc}"
        return bool(self._flags.session_present)

    def subscribe(
        self,
        topic: str,
        qos: int = 0,
        *,
        no_local: bool = False,
        retain_as_published: bool = False,
        subscription_id: int | None = None,
    ) -> list[Any]:
        """Subscribe and wait for SUBACK; return the granted codes (QoS, or >= 0x80 failures)."""
        if self.protocol == 5:
            options = SubscribeOptions(
                qos=qos, noLocal=no_local, retainAsPublished=retain_as_published
            )
            props = None
            if subscription_id is not None:
                props = properties(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=subscription_id)
            _rc, mid = self.client.subscribe(topic, options=options, properties=props)
        else:
            _rc, mid = self.client.subscribe(topic, qos)
        self._wait_ack(mid, f"SUBACK for {topic!r}")
        return [getattr(c, "value", c) for c in self._granted[mid]]

    def unsubscribe(self, topic: str) -> None:
        _rc, mid = self.client.unsubscribe(topic)
        self._wait_ack(mid, f"UNSUBACK for {topic!r}")

    def publish(
        self,
        topic: str,
        payload: bytes = b"",
        qos: int = 0,
        retain: bool = False,
        props: Properties | None = None,
    ) -> None:
        info = self.client.publish(topic, payload, qos, retain, properties=props)
        info.wait_for_publish(WAIT)
        assert info.is_published(), f"publish to {topic!r} not complete"

    def wait_for(self, count: int, timeout: float = WAIT) -> list[mqtt.MQTTMessage]:
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self.messages) >= count, timeout)
            assert ok, f"expected {count} message(s), got {self._topics()}"
            return list(self.messages)

    def received_before(self, marker_topic: str) -> list[mqtt.MQTTMessage]:
        """Messages that came before the first on ``marker_topic`` (which the caller published
        after what it wants to check: one client's messages come in order)."""
        with self._cond:
            ok = self._cond.wait_for(
                lambda: any(m.topic == marker_topic for m in self.messages), WAIT
            )
            assert ok, f"marker never came; got {self._topics()}"
            topics = [m.topic for m in self.messages]
            return self.messages[: topics.index(marker_topic)]

    def _topics(self) -> list[str]:
        return [m.topic for m in self.messages]

    def disconnect(self) -> None:
        """A clean DISCONNECT."""
        self.client.disconnect()
        self.client.loop_stop()

    def drop(self) -> None:
        """End the network connection without DISCONNECT, as a crash would."""
        sock = self.client.socket()
        self.client.loop_stop()
        if isinstance(sock, socket.socket):
            sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def go_silent(self) -> None:
        """Stop sending anything (no pings) but keep the connection open."""
        self.client.loop_stop()

    def close(self) -> None:
        """Release whatever is left (after a test, whatever it did)."""
        self.client.loop_stop()
        sock = self.client.socket()
        if isinstance(sock, socket.socket):
            sock.close()
