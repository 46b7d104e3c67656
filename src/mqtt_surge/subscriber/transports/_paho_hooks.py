"""The paho methods the paho engine stands in for: each hook shadows one
private method on one client instance (tests/test_paho.py checks that paho still has them, so a
paho release that moves one fails there first)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt


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


def take_publishes(client: mqtt.Client, take: Callable[[int, bytearray], Any]) -> bool:
    """Offer each PUBLISH packet to ``take(first byte, the rest)`` before paho reads it; paho
    reads it as before when ``take`` returns None, else ``take``'s result is paho's. True if it
    is hooked. Shadows ``_handle_publish`` on this instance, which reads ``_in_packet`` (both
    private; tests/test_paho.py checks that paho still has them)."""
    handle = getattr(client, "_handle_publish", None)
    if not callable(handle) or not isinstance(getattr(client, "_in_packet", None), dict):
        return False

    def handle_publish() -> Any:
        packet = client._in_packet  # noqa: SLF001
        result = take(packet["command"], packet["packet"])
        return handle() if result is None else result

    client._handle_publish = handle_publish  # type: ignore[method-assign]  # noqa: SLF001
    return True


def on_pingresp(client: mqtt.Client, hook: Callable[[], None]) -> bool:
    """Call ``hook`` on the network thread each time a PINGRESP arrives; True if it is hooked.

    paho has no callback for it, and the keepalive watchdog needs to know that a quiet link is
    alive. Like :func:`set_message_handler`, it shadows one private method on this instance only
    (tests/test_paho.py checks that paho still has it).
    """
    handle = getattr(client, "_handle_pingresp", None)
    if not callable(handle):
        return False

    def handle_pingresp() -> Any:
        hook()
        return handle()

    client._handle_pingresp = handle_pingresp  # type: ignore[method-assign]  # noqa: SLF001
    return True
