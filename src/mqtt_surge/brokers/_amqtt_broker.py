"""amqtt's Broker, brought in line with the MQTT specification where downstream tests rely on it.

Imported only when an embedded broker starts (it imports amqtt). amqtt is pinned to 0.12.x; the
methods overridden here are private, so ``tests/brokers/test_embedded.py`` checks that they still
exist and still behave as assumed, and fails first when a release moves them.

Retained messages: amqtt 0.12 replays, on every CONNECT, the retained messages of every filter that
*any* client has subscribed, to the connecting client, whatever it subscribed itself. So one
test's retained message reaches the next test's client (another prefix, another client id), which
MQTT does not allow: a retained message goes to a client when *it* establishes a matching
subscription (3.1.1 [MQTT-3.3.1-6], 5.0 [MQTT-3.3.1-9]). Here retained messages are sent only while
the broker handles that client's own SUBSCRIBE.
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


class SpecBroker(Broker):  # type: ignore[misc]  # untyped amqtt
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
        await super()._publish_retained_messages_for_subscription(subscription, session)
