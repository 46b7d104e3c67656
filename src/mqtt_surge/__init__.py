"""mqtt-surge: an MQTT subscriber that survives bursts, a pytest plugin with real brokers, and a
Locust load suite."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .brokers import (
    AmqttBroker,
    Broker,
    EmbeddedBroker,
    ExternalBroker,
    MosquittoBroker,
    NativeBroker,
    broker_from_spec,
)
from .manager import MQTTManager
from .runtime.errors import (
    AsyncioLoopWarning,
    BrokerError,
    BrokerStartError,
    ConfigError,
    ConnectError,
    EngineNotInstalledError,
    MQTTSurgeError,
    MQTTSurgeWarning,
    QueueFullWarning,
    SubscribeError,
    WorkersOverloadedWarning,
)
from .runtime.url import BrokerURL, parse_broker
from .subscriber._message import Message, as_text
from .subscriber._stats import Stats
from .subscriber._subscriber import MQTTSubscriber, Subscriber

try:
    __version__ = version("mqtt-surge")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "AmqttBroker",
    "AsyncioLoopWarning",
    "Broker",
    "BrokerError",
    "BrokerStartError",
    "BrokerURL",
    "ConfigError",
    "ConnectError",
    "EmbeddedBroker",
    "EngineNotInstalledError",
    "ExternalBroker",
    "MQTTManager",
    "MQTTSubscriber",
    "MQTTSurgeError",
    "MQTTSurgeWarning",
    "Message",
    "MosquittoBroker",
    "NativeBroker",
    "QueueFullWarning",
    "Stats",
    "SubscribeError",
    "Subscriber",
    "WorkersOverloadedWarning",
    "__version__",
    "as_text",
    "broker_from_spec",
    "parse_broker",
]
