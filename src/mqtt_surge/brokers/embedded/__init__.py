"""mqtt-surge's own MQTT 3.1.1 and 5.0 broker, for tests: the plugin's default.

Written from the specifications: what a downstream test relies on behaves as the specification
(and mosquitto) does. Sessions (clean or persistent, MQTT 5 session expiry), offline queues,
redelivery of unacknowledged QoS 1/2 messages on reconnect, QoS 2 exactly once, retained
messages, wills (on a lost connection, on keepalive expiry, MQTT 5 will delay), keepalive
enforcement at 1.5x, ``$`` topics, shared subscriptions, and MQTT 5 properties: user properties,
message expiry, response topic and correlation data, topic aliases from clients, subscription
identifiers, no-local, retain-as-published, retain handling.

Configured as production brokers are (``BrokerOptions``): TLS and client certificates, a
WebSocket listener, logins and ACLs in mosquitto's acl_file syntax, limits. Not for production:
no persistence to disk, no bridging.

- :mod:`._server`: the listener on its loop thread (start, stop, crash)
- :mod:`._connection`: one client's bytes, framed into packets and refused early
- :mod:`._websocket`: MQTT over WebSocket: wsproto's framing around a connection
- :mod:`._core`: what each packet after CONNECT does
- :mod:`._sessions`: CONNECT, and how sessions end (wills, expiry, what time changes)
- :mod:`._routing`: where a message goes, and the bounded delivery to one session
- :mod:`._trees`: subscriptions and retained messages in topic trees
- :mod:`._state`: the records all of these keep
"""

from __future__ import annotations

from ._clock import Clock
from ._faults import ProtocolFaults
from ._inspect import PacketLog, PacketRecord
from ._server import BrokerStats, EmbeddedBroker
from ._state import ClientInfo

# the name this broker had before it became the default; old command lines still use it
NativeBroker = EmbeddedBroker

__all__ = [
    "BrokerStats",
    "ClientInfo",
    "Clock",
    "EmbeddedBroker",
    "NativeBroker",
    "PacketLog",
    "PacketRecord",
    "ProtocolFaults",
]
