"""Where the gmqtt engine meets gmqtt's internals and its log: the packet handler we read
PUBLISH packets in front of, the connection the watchdog reads, the property parser, and the
log records we filter or read a refusal from. tests/test_gmqtt.py checks each private part is
still there in the installed gmqtt.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import gmqtt

logger = logging.getLogger("mqtt_surge")
# gmqtt's own client/handler messages go here (it takes a logger); its protocol module logs to
# the "gmqtt" logger as usual
gmqtt_logger = logging.getLogger("mqtt_surge.gmqtt")


class _DropReconnectRefusal(logging.Filter):
    """gmqtt logs an ERROR each time the reconnect we switched off is declined; not an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "max number of failed connection attempts" not in record.getMessage()


gmqtt_logger.addFilter(_DropReconnectRefusal())

_CONNACK_REFUSED = "[MqttPackageHandler] CONNACK: %s"  # gmqtt's warning, with the code in hex


class _ClientLog(logging.LoggerAdapter):  # type: ignore[type-arg]  # generic only on 3.11+
    """gmqtt's log for one client, passed on to ``mqtt_surge.gmqtt``, that also reports a refused
    CONNACK. gmqtt raises for most refusals, but answers a 3.1.1 broker's "unacceptable protocol
    version" to an MQTT 5 CONNECT by falling back to 3.1.1 behind our back (we asked for 5, and
    it reconnects only through the reconnect we switched off): its warning is all there is."""

    def __init__(self, on_refused: Any) -> None:
        super().__init__(gmqtt_logger, {})
        self._on_refused = on_refused

    def debug(self, msg: object, *args: Any, **kwargs: Any) -> None:
        # gmqtt logs every packet at debug, twice per message: answer "off" in one call, as its
        # own logger would, instead of the adapter's three
        if self.logger.isEnabledFor(logging.DEBUG):
            super().debug(msg, *args, **kwargs)

    def warning(self, msg: object, *args: Any, **kwargs: Any) -> None:
        if msg == _CONNACK_REFUSED and args:
            self._on_refused(int(str(args[0]), 16))
        super().warning(msg, *args, **kwargs)


def _live_connection(client: gmqtt.Client | None) -> Any:
    """gmqtt's MQTTConnection of ``client`` (private: ``_connection``, with ``_last_data_in``, the
    monotonic time of its last packet, and ``_transport``), or None."""
    return getattr(client, "_connection", None)


def _take_publishes(client: gmqtt.Client, take: Any) -> None:
    """Offer every PUBLISH gmqtt reads to ``take(handler, cmd, raw)`` before gmqtt's own handler.

    Private parts of gmqtt 0.8 (tests/test_gmqtt.py checks they are there): the package
    handler (``_package_handler``), whose ``__call__`` runs ``self._handle_packet(cmd, data)``
    (so an instance attribute of that name comes first), ``_send_puback(mid)`` and
    ``_last_msg_in`` (the time of the last packet, which its own ``_handle_packet`` sets)."""
    handler = client._package_handler  # noqa: SLF001
    handle = handler._handle_packet  # noqa: SLF001
    monotonic = time.monotonic

    def handle_packet(cmd: int, packet: bytes) -> None:
        if cmd >> 4 == 3:
            # the packet's arrival, recorded before a worker can see the message
            handler._last_msg_in = monotonic()  # noqa: SLF001
            if take(handler, cmd, packet):
                return
        handle(cmd, packet)

    handler._handle_packet = handle_packet  # noqa: SLF001


def _publish_properties(handler: Any, rest: bytes) -> tuple[Any, bytes] | None:
    """gmqtt's parse of a PUBLISH's MQTT 5 properties: (properties, payload); None for an
    unparseable one or a topic alias, whose table gmqtt keeps."""
    try:
        properties, payload = handler._parse_properties(rest)  # noqa: SLF001
    except Exception:  # malformed: gmqtt's path reports it in its own words
        return None
    if properties is None or "topic_alias" in properties:
        return None
    return properties, payload


def _text(topic: Any) -> str:
    # gmqtt passes the raw bytes when a topic is not valid UTF-8: keep it, visibly replaced
    return bytes(topic).decode("utf-8", "replace")


def _properties(props: dict[str, Any]) -> dict[str, Any]:
    """The MQTT 5 properties of a message, without the two flags gmqtt adds to them."""
    return {k: v for k, v in props.items() if k not in ("dup", "retain")}


def _exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # gmqtt sends a PUBACK from a done-callback that reads the callback's result: for an ack we
    # withheld on purpose (stale, or abandoned at stop) that result is a CancelledError
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


async def _close_quietly(client: gmqtt.Client) -> None:
    try:
        await asyncio.wait_for(client.disconnect(), 2.0)
    except (OSError, asyncio.TimeoutError, RuntimeError) as exc:
        logger.debug("mqtt_surge: gmqtt disconnect: %r", exc)
