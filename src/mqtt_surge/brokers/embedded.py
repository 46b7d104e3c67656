"""The embedded engine, the plugin's default: the native broker, in a thread, stdlib only.

It was amqtt until the native broker passed every conformance behaviour in MQTT 3.1.1 and 5 that
mosquitto passes, which amqtt 0.12 cannot (no MQTT 5, no redelivery): a test that passes on
``--mqtt-broker=embedded`` now means what it means on mosquitto. amqtt stays as the ``amqtt``
engine (:class:`~mqtt_surge.brokers.amqtt.AmqttBroker`).
"""

from __future__ import annotations

from typing import Any

from .._errors import ConfigError
from ._base import DEFAULT_STOP_TIMEOUT
from .native import DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_PACKET_SIZE, NativeBroker


class EmbeddedBroker(NativeBroker):
    """The in-process broker the fixtures use by default: MQTT 3.1.1 and 5 on ``127.0.0.1``.

    Binds a free port unless told otherwise; with ``username``/``password`` only that login gets
    in. ``max_packet_size`` (default 64 MiB, announced in MQTT 5's CONNACK) is the largest packet
    it accepts, refused on its fixed header; ``connect_timeout`` (default 10 s) closes a
    connection whose CONNECT has not arrived by then. Needs nothing but the standard library.
    """

    engine = "embedded"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str | None = None,
        password: str | None = None,
        *,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
        max_packet_size: int = DEFAULT_MAX_PACKET_SIZE,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        **amqtt_only: Any,
    ) -> None:
        if amqtt_only:
            # amqtt's plugins (ACLs, taboo topics) were options of the old embedded engine: say
            # where they went instead of a bare "unexpected keyword argument"
            raise ConfigError(
                f"EmbeddedBroker does not take {', '.join(sorted(amqtt_only))}: it is the native "
                "broker now; amqtt's plugins are options of AmqttBroker "
                "(mqtt_surge.brokers.AmqttBroker, --mqtt-broker=amqtt)"
            )
        super().__init__(
            host,
            port,
            username,
            password,
            stop_timeout=stop_timeout,
            max_packet_size=max_packet_size,
            connect_timeout=connect_timeout,
        )
