"""MQTTManager: a broker and its subscribers, started and stopped in the right order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .brokers import Broker, BrokerBase, broker_from_spec
from .runtime.errors import ConfigError
from .runtime.lifecycle import StartStop
from .subscriber._stats import Stats
from .subscriber._subscriber import Subscriber


class MQTTManager(StartStop):
    """Starts the broker, then the subscribers; stops the subscribers (drained), then the broker.

    ``broker`` is an engine object or a spec (``"embedded"``, ``"mosquitto"``, a URL);
    ``subscribers`` are :class:`Subscriber` objects or dicts of their keyword arguments (the broker
    is filled in). The original design's form works too:
    ``MQTTManager(broker_config={"engine": "embedded", "port": 1883},
    subscriber_config={"topic": "test", "callback": print})``.
    """

    def __init__(
        self,
        broker: BrokerBase | Broker | str | None = None,
        subscribers: Sequence[Subscriber | Mapping[str, Any]] = (),
        *,
        broker_config: Mapping[str, Any] | None = None,
        subscriber_config: Mapping[str, Any] | None = None,
    ) -> None:
        if broker is not None and broker_config is not None:
            raise ConfigError("give broker= or broker_config=, not both")
        if broker_config is not None:
            options = dict(broker_config)
            broker = broker_from_spec(str(options.pop("engine", "embedded")), **options)
        elif isinstance(broker, str):
            broker = broker_from_spec(broker)
        self.broker: BrokerBase | Broker | None = broker
        configs = list(subscribers) + ([subscriber_config] if subscriber_config else [])
        self.subscribers: list[Subscriber] = [self._subscriber(c) for c in configs]

    def _subscriber(self, config: Subscriber | Mapping[str, Any]) -> Subscriber:
        if isinstance(config, Subscriber):
            return config
        if not isinstance(config, Mapping):
            raise TypeError(f"subscribers must be Subscriber objects or dicts, got {config!r}")
        options = dict(config)
        if "broker" not in options:
            if self.broker is None:
                raise ConfigError("a subscriber config without 'broker' needs the manager's broker")
            options["broker"] = self.broker  # resolved to its URL when it starts
        return Subscriber(**options)

    def start_broker(self, timeout: float = 10.0) -> None:
        if self.broker is not None:
            self.broker.start(timeout)

    def start_subscriber(self, timeout: float = 10.0) -> None:
        """Start every subscriber (the original design's name; there may be several)."""
        for subscriber in self.subscribers:
            subscriber.start(timeout=timeout)

    def start(self, timeout: float = 10.0) -> MQTTManager:
        self.start_broker(timeout)
        try:
            self.start_subscriber(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 5.0) -> list[Stats]:
        """Stop the subscribers (each drained up to ``timeout``), then the broker."""
        final = [subscriber.stop(timeout) for subscriber in self.subscribers]
        if self.broker is not None:
            self.broker.stop()
        return final
