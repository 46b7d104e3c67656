"""amqtt's Broker, brought in line with the MQTT specification where downstream tests rely on it.

Imported only when an amqtt broker starts (it imports amqtt). amqtt is pinned to 0.12.x; the
methods overridden here are private, so ``tests/brokers/test_amqtt.py`` checks that they still
exist and still behave as assumed, and fails first when a release moves them.

Retained messages: amqtt 0.12 replays, on every CONNECT, the retained messages of every filter that
*any* client has subscribed, to the connecting client, whatever it subscribed itself. So one
test's retained message reaches the next test's client (another prefix, another client id), which
MQTT does not allow: a retained message goes to a client when *it* establishes a matching
subscription (3.1.1 [MQTT-3.3.1-6], 5.0 [MQTT-3.3.1-9]). Here retained messages are sent only while
the broker handles that client's own SUBSCRIBE.

Persistent sessions: amqtt keeps the session of a client that connects with clean_session=0, and
the QoS 1/2 messages that arrive for it while it is away, only if the client logged in: it drops
"anonymous" sessions at disconnect. MQTT ties a session to its client id, not to a login
(3.1.1 [MQTT-3.1.2-4], [MQTT-3.1.2-5]), and mosquitto keeps them; so do we. A clean session, on
the other hand, lasts as long as its connection [MQTT-3.1.2-6]: amqtt removes it some time later,
so a quick reconnect with clean_session=0 was told "session present"; here it ends with the
connection.

Forwarding: amqtt delivers a message at the subscription's QoS whatever QoS it was published with,
where MQTT asks for the lower of the two (3.1.1 [MQTT-3.8.4-6], 5.0 [MQTT-3.8.4-8]); and it sends
the messages it kept for an absent session with RETAIN set, where a message forwarded to an
established subscription has RETAIN 0 ([MQTT-3.3.1-9]). Each published payload here carries its
QoS, and the handler amqtt hands each delivery to is wrapped to apply both rules.
"""

from __future__ import annotations

import contextvars
from typing import Any

from amqtt.broker import Broker

# set while amqtt handles one client's SUBSCRIBE packet (each client runs in a task of its own,
# so the flag is that client's alone)
_handling_subscribe: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "mqtt_surge_handling_subscribe", default=False
)


# set while amqtt sends a new subscription its matching retained messages (the one case where
# a forwarded message keeps RETAIN = 1)
_replaying_retained: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "mqtt_surge_replaying_retained", default=False
)


class _Published(bytes):
    """A payload that remembers the QoS it was published with (bytes subclasses cannot have
    slots: it has a __dict__)."""

    qos: int


class _Forwarding:
    """amqtt's handler for one client, as the broadcast and the session replay use it."""

    def __init__(self, handler: Any) -> None:
        self._handler = handler

    def mqtt_publish(self, topic: str, data: bytes, qos: int | None, retain: bool) -> Any:
        if isinstance(data, _Published) and qos is not None:
            qos = min(qos, data.qos)
        return self._handler.mqtt_publish(topic, data, qos, retain and _replaying_retained.get())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handler, name)


class SpecBroker(Broker):  # type: ignore[misc]  # untyped amqtt
    def _get_handler(self, session: Any) -> Any:
        handler = super()._get_handler(session)
        return None if handler is None else _Forwarding(handler)

    async def _handle_message_delivery(
        self, client_session: Any, handler: Any, wait_deliver: Any
    ) -> bool:
        message = wait_deliver.result()
        if message is not None and message.data is not None and message.qos is not None:
            published = _Published(message.data)
            published.qos = message.qos
            message.data = published
        return bool(await super()._handle_message_delivery(client_session, handler, wait_deliver))

    async def _authenticate(self, session: Any, *args: Any, **kwargs: Any) -> bool:
        admitted = bool(await super()._authenticate(session, *args, **kwargs))
        session.is_anonymous = False  # amqtt's only use of it: whether to keep the session
        return admitted

    async def _handle_disconnect(self, client_session: Any, *args: Any, **kwargs: Any) -> None:
        await super()._handle_disconnect(client_session, *args, **kwargs)
        client_id = client_session.client_id
        # only if it is still this connection's session (a takeover may have replaced it)
        if (
            client_session.clean_session
            and self._sessions.get(client_id, (None,))[0] is client_session
        ):
            await self._delete_session(client_id)

    async def _handle_subscription(self, *args: Any, **kwargs: Any) -> None:
        token = _handling_subscribe.set(True)
        try:
            await super()._handle_subscription(*args, **kwargs)
        finally:
            _handling_subscribe.reset(token)

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Any
    ) -> None:
        if not _handling_subscribe.get():
            return  # the replay on CONNECT of everybody's filters
        token = _replaying_retained.set(True)
        try:
            await super()._publish_retained_messages_for_subscription(subscription, session)
        finally:
            _replaying_retained.reset(token)
