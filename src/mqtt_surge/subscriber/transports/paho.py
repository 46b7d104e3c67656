"""Everything that touches paho-mqtt: client set-up, message conversion, codes -> our errors."""

from __future__ import annotations

import contextlib
import functools
import logging
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ...runtime.errors import ConnectError
from ...runtime.url import BrokerURL
from . import _base
from ._paho_hooks import on_pingresp, set_message_handler, take_publishes

logger = logging.getLogger("mqtt_surge")

PahoClient = mqtt.Client
# empty MQTT 5 PUBLISH properties (paho's client module has imported both modules already)
new_publish_properties: Callable[[], Any] = functools.partial(Properties, PacketTypes.PUBLISH)
PahoMessage = mqtt.MQTTMessage


def make_client(
    *,
    client_id: str,
    protocol: int,
    clean_session: bool | None,
    manual_ack: bool,
    url: BrokerURL,
    tls: bool | ssl.SSLContext | None,
) -> mqtt.Client:
    version = MQTTProtocolVersion.MQTTv5 if protocol == 5 else MQTTProtocolVersion.MQTTv311
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean_session if protocol != 5 else None,
        protocol=version,
        manual_ack=manual_ack,
        transport="websockets" if url.websocket else "tcp",
    )
    if url.websocket:
        client.ws_set_options(path=url.path)
    # an exception escaping one of our callbacks must never kill the network thread
    client.suppress_exceptions = True
    if url.username is not None:
        client.username_pw_set(url.username, url.password)
    context = _base.ssl_context(tls, url)
    if context is not None:
        client.tls_set_context(context)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


# paho runs its keepalive check once per pass of its loop, which waits up to 1 s in select()
PAHO_CHECK_LAG = 1.0


def network_thread(client: mqtt.Client | None) -> threading.Thread | None:
    """The thread ``loop_start()`` started (paho keeps it in a private attribute)."""
    thread = getattr(client, "_thread", None)
    return thread if isinstance(thread, threading.Thread) else None


def close(client: mqtt.Client) -> None:
    """Disconnect, join the network thread (unless we are on it), release every socket.

    paho keeps its wake-up socket pair open until the client is garbage-collected, which can be
    long after a stop (the client and its thread form a cycle); close it now.
    """
    client.disconnect()
    if threading.current_thread() is not network_thread(client):
        client.loop_stop()
        reset = getattr(client, "_reset_sockets", None)
        if callable(reset):
            reset()


def publish_properties(values: Mapping[str, Any]) -> Any:
    """MQTT 5 PUBLISH properties from ``{paho property name: value}`` (``UserProperty``: pairs)."""
    properties = new_publish_properties()
    for name, value in values.items():
        setattr(properties, name, value)
    return properties


def _publish_properties(rest: bytes) -> tuple[Any, bytes] | None:
    """paho's parse of a PUBLISH's MQTT 5 properties: (properties, payload)."""
    properties = new_publish_properties()
    try:
        _, length = properties.unpack(rest)
    except Exception:  # malformed: paho's path reports it in its own words
        return None
    return properties, rest[length:]


def fields(msg: mqtt.MQTTMessage, with_properties: bool) -> tuple[str, bytes, int, bool, int, Any]:
    """topic, payload, qos, retain, mid, properties: what a Message is built from.

    No payload decoding, no copies. A topic that is not valid UTF-8 (a broken publisher) is kept,
    visibly, with replacement characters.
    """
    try:
        topic = msg.topic
    except UnicodeDecodeError:
        topic = msg._topic.decode("utf-8", "replace")  # noqa: SLF001 - paho has no raw accessor
    return (
        topic,
        cast(bytes, msg.payload),  # paho builds it as bytes; the annotation is wider
        msg.qos,
        bool(msg.retain),
        msg.mid,
        msg.properties if with_properties else None,
    )


def connect_error(reason_code: ReasonCode | int, url: BrokerURL) -> ConnectError:
    value = reason_code.value if isinstance(reason_code, ReasonCode) else int(reason_code)
    text = str(reason_code) if isinstance(reason_code, ReasonCode) else mqtt.connack_string(value)
    return _base.connect_error(value, text, url)


def is_failure(reason_code: ReasonCode | int) -> bool:
    if isinstance(reason_code, ReasonCode):
        return bool(reason_code.is_failure)
    return int(reason_code) >= 0x80


def error_string(rc: int) -> str:
    return str(mqtt.error_string(rc))


class PahoTransport:
    """The default engine: paho's network thread (``loop_start``) feeding the buffer."""

    def __init__(self, settings: _base.Settings, events: _base.Events) -> None:
        self._settings = settings
        self._events = events
        self._with_properties = settings.protocol == 5
        self._parse_properties = _publish_properties if self._with_properties else None
        self._manual_ack = settings.manual_ack
        self.generation = 0
        self.silence_limit = _base.silence_limit(settings.keepalive, PAHO_CHECK_LAG)
        self._last_in = 0.0  # time.time() of the last packet we saw from the broker
        self._client = make_client(
            client_id=settings.client_id,
            protocol=settings.protocol,
            clean_session=settings.clean_session,
            manual_ack=settings.manual_ack,
            url=settings.url,
            tls=settings.tls,
        )
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        set_message_handler(self._client, self._on_message)
        take_publishes(self._client, self._publish_packet)
        on_pingresp(self._client, self._pong)

    def start(self) -> None:
        settings, client = self._settings, self._client
        properties = None
        clean_start: Any = mqtt.MQTT_CLEAN_START_FIRST_ONLY
        if settings.protocol == 5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            if settings.session_expiry is not None:
                properties.SessionExpiryInterval = settings.session_expiry
                clean_start = False
        client.connect_async(
            settings.url.host,
            settings.url.port,
            keepalive=settings.keepalive,
            clean_start=clean_start,
            properties=properties,
        )
        client.loop_start()

    # -- paho's callbacks, on its network thread --------------------------------------------------

    def _publish_packet(self, cmd: int, raw: bytearray) -> Any:
        """A PUBLISH of QoS 0 or 1 straight into the buffer, with no MQTTMessage in between
        (:func:`._base.publish_item`); None leaves it to paho."""
        item = _base.publish_item(cmd, raw, self._parse_properties, self.generation, False)
        if item is None:
            return None
        self._last_in = item.received_at
        self._events.enqueue(item)
        if item.qos and not self._manual_ack:
            return self._client._send_puback(item.mid)  # noqa: SLF001 - as paho's own path does
        return mqtt.MQTT_ERR_SUCCESS

    def _on_message(self, msg: mqtt.MQTTMessage) -> None:
        now = self._last_in = time.time()
        self._events.enqueue(
            _base.new_item((*fields(msg, self._with_properties), now, self.generation, None))
        )

    def _pong(self) -> None:
        self._last_in = time.time()

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, reason_code: Any, _p: object
    ) -> None:
        if is_failure(reason_code):
            self._events.refused(connect_error(reason_code, self._settings.url))
            return
        self.generation += 1
        self._last_in = time.time()
        self._events.connected()
        # paho never resubscribes by itself: every connect subscribes again
        result, _mid = client.subscribe(self._settings.topics)
        if result:
            logger.warning("mqtt_surge: subscribe failed to send: %s", error_string(result))

    def _on_subscribe(
        self, _c: object, _u: object, _mid: int, reason_codes: list[Any], _p: object
    ) -> None:
        self._events.subscribed(
            [
                f"{name} ({code})"
                for (name, _), code in zip(self._settings.topics, reason_codes, strict=False)
                if is_failure(code)
            ]
        )

    def _on_connect_fail(self, _c: object, _u: object) -> None:
        # paho calls this from inside the except block of its failed connect: the reason is the
        # exception being handled (it passes none)
        self._events.unreachable(sys.exc_info()[1])

    def _on_disconnect(
        self, _c: object, _u: object, _f: object, reason_code: Any, _p: object
    ) -> None:
        self._events.disconnected(reason_code)

    # -- called from other threads ----------------------------------------------------------------

    def ack(self, item: _base.Item) -> None:
        if item.generation == self.generation:
            self._client.ack(item.mid, item.qos)
        else:
            logger.debug("not acking mid %d: it came on an earlier connection", item.mid)

    def unsubscribe(self, timeout: float) -> bool:
        client = self._client
        done = threading.Event()
        client.on_unsubscribe = lambda *_args: done.set()
        result, _mid = client.unsubscribe([name for name, _ in self._settings.topics])
        return not result and done.wait(timeout)

    def is_connected(self) -> bool:
        return bool(self._client.is_connected())

    def silent_for(self) -> float | None:
        if not self._client.is_connected():
            return None
        return time.time() - self._last_in

    def drop(self) -> None:
        # a shutdown wakes paho's select() with an end of stream: its own loss handling (and
        # reconnect) runs on its own thread, as for a reset from the network
        sock = self._client.socket()
        # paho's WebSocket wrapper keeps the socket it wraps in a private attribute
        sock = sock if isinstance(sock, socket.socket) else getattr(sock, "_socket", None)
        if isinstance(sock, socket.socket):  # ssl.SSLSocket too
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def on_network_thread(self) -> bool:
        return threading.current_thread() is network_thread(self._client)

    def close(self) -> None:
        close(self._client)
