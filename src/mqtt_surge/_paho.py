"""Everything that touches paho-mqtt: client set-up, message conversion, codes -> our errors."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from typing import Any, cast

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from ._errors import ConnectError
from ._url import BrokerURL

PahoClient = mqtt.Client
PahoMessage = mqtt.MQTTMessage

# CONNACK reason codes (MQTT 5 numbering; paho maps 3.1.1 return codes onto them)
_BAD_CREDENTIALS = {134, 4}
_NOT_AUTHORIZED = {135, 5}


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
    )
    # an exception escaping one of our callbacks must never kill the network thread
    client.suppress_exceptions = True
    if url.username is not None:
        client.username_pw_set(url.username, url.password)
    if isinstance(tls, ssl.SSLContext):
        client.tls_set_context(tls)
    elif tls or (tls is None and url.tls):
        client.tls_set_context(ssl.create_default_context())
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


def set_message_handler(client: mqtt.Client, handler: Callable[[mqtt.MQTTMessage], None]) -> bool:
    """Have paho hand each received message straight to ``handler``; True if the fast path is on.

    paho's public ``on_message`` goes through ``Client._handle_on_message``, which takes two
    locks and walks a topic-filter trie for ``message_callback_add`` on every message: about a
    tenth of paho's whole receive cost, spent on a feature mqtt-surge never uses. Shadowing that
    method on this one instance skips it. If a paho release renames it, the public callback is
    used instead (tests/test_paho.py fails first, so we notice).
    """
    if callable(getattr(client, "_handle_on_message", None)):
        client._handle_on_message = handler  # type: ignore[method-assign, assignment]  # noqa: SLF001
        return True
    client.on_message = lambda _client, _userdata, message: handler(message)
    return False


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


def connect_async(
    client: mqtt.Client,
    url: BrokerURL,
    *,
    keepalive: int,
    protocol: int,
    session_expiry: int | None,
) -> None:
    properties = None
    clean_start: Any = mqtt.MQTT_CLEAN_START_FIRST_ONLY
    if protocol == 5:
        from paho.mqtt.packettypes import PacketTypes  # noqa: PLC0415
        from paho.mqtt.properties import Properties  # noqa: PLC0415

        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        if session_expiry is not None:
            properties.SessionExpiryInterval = session_expiry
            clean_start = False
    client.connect_async(
        url.host, url.port, keepalive=keepalive, clean_start=clean_start, properties=properties
    )


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
    if value in _BAD_CREDENTIALS:
        reason = "bad_credentials"
    elif value in _NOT_AUTHORIZED:
        reason = "not_authorized"
    else:
        reason = "refused"
    return ConnectError(
        f"{url.redacted} refused the connection: {text}", reason=reason, return_code=value
    )


def is_failure(reason_code: ReasonCode | int) -> bool:
    if isinstance(reason_code, ReasonCode):
        return bool(reason_code.is_failure)
    return int(reason_code) >= 0x80


def error_string(rc: int) -> str:
    return str(mqtt.error_string(rc))
