"""The subscriber and its engine room: options, the bounded buffer, workers and the async
runner, the pipeline between them, connection events, and the transports (paho, gmqtt, a fake)
that feed it.

A message's way: ``transports`` (network thread) -> ``_pipeline.enqueue`` -> ``_buffer`` ->
``_dispatch`` workers (``_runner`` for async callbacks) -> your callback -> ack.
"""

from ._subscriber import MQTTSubscriber, Subscriber, SubscriberOptions, is_async_callable

__all__ = ["MQTTSubscriber", "Subscriber", "SubscriberOptions", "is_async_callable"]
