"""Brokers behind one interface: ``embedded`` (our own broker in a thread, the default),
``amqtt``, ``mosquitto``, or any URL."""

from __future__ import annotations

import difflib
from typing import Any

from ..runtime.errors import ConfigError
from ._acl import Acl
from ._base import Broker, BrokerBase
from ._capabilities import FEATURES, OPTIONS, Capabilities
from ._options import BrokerOptions
from .amqtt import AmqttBroker  # amqtt itself is imported only when one starts
from .embedded import EmbeddedBroker, NativeBroker
from .external import ExternalBroker
from .mosquitto import MosquittoBroker

# the brokers a spec can name ("engine" is the word for the subscriber's client libraries);
# "native", the embedded broker's old name, is still accepted
BROKERS = ("embedded", "amqtt", "mosquitto")
ENGINES = BROKERS  # the name these had before
_LOCAL: dict[str, type[BrokerBase]] = {
    "embedded": EmbeddedBroker,
    "amqtt": AmqttBroker,
    "mosquitto": MosquittoBroker,
    "native": NativeBroker,
}


def broker_from_spec(spec: str, **options: Any) -> BrokerBase:
    """One broker from a spec string: a broker's name (:data:`BROKERS`) or a URL.

    ``options`` go to the broker's constructor (host, port, username, password, ...). Nothing is
    started.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"broker spec must be one of {', '.join(BROKERS)} or a URL, got {spec!r}")
    name = spec.strip()
    if name in _LOCAL:
        return _LOCAL[name](**options)
    if "://" not in name and ":" not in name and "." not in name and name != "localhost":
        close = difflib.get_close_matches(name, BROKERS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"unknown broker engine {name!r}: {hint}use {', '.join(BROKERS)} or a URL "
            "such as mqtt://host:1883"
        )
    return ExternalBroker(name, **options)


__all__ = [
    "BROKERS",
    "ENGINES",
    "FEATURES",
    "OPTIONS",
    "Acl",
    "AmqttBroker",
    "Broker",
    "BrokerBase",
    "BrokerOptions",
    "Capabilities",
    "EmbeddedBroker",
    "ExternalBroker",
    "MosquittoBroker",
    "NativeBroker",
    "broker_from_spec",
]
