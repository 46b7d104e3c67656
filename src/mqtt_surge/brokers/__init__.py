"""Broker engines behind one interface: ``embedded`` (our own broker in a thread, the default),
``amqtt``, ``mosquitto``, ``native`` (the embedded engine under its own name), or any URL."""

from __future__ import annotations

import difflib
from typing import Any

from ..runtime.errors import ConfigError
from ._base import Broker, BrokerBase
from ._capabilities import FEATURES, Capabilities
from .amqtt import AmqttBroker  # amqtt itself is imported only when one starts
from .embedded import EmbeddedBroker, NativeBroker
from .external import ExternalBroker
from .mosquitto import MosquittoBroker

ENGINES = ("embedded", "amqtt", "mosquitto", "native")
_LOCAL: dict[str, type[BrokerBase]] = {
    "embedded": EmbeddedBroker,
    "amqtt": AmqttBroker,
    "mosquitto": MosquittoBroker,
    "native": NativeBroker,
}


def broker_from_spec(spec: str, **options: Any) -> BrokerBase:
    """One broker from a spec string: an engine name (:data:`ENGINES`) or a URL.

    ``options`` go to the engine's constructor (host, port, username, password, ...). Nothing is
    started.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"broker spec must be one of {', '.join(ENGINES)} or a URL, got {spec!r}")
    name = spec.strip()
    if name in _LOCAL:
        return _LOCAL[name](**options)
    if "://" not in name and ":" not in name and "." not in name and name != "localhost":
        close = difflib.get_close_matches(name, ENGINES, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"unknown broker engine {name!r}: {hint}use {', '.join(ENGINES)} or a URL "
            "such as mqtt://host:1883"
        )
    return ExternalBroker(name, **options)


__all__ = [
    "ENGINES",
    "FEATURES",
    "AmqttBroker",
    "Broker",
    "BrokerBase",
    "Capabilities",
    "EmbeddedBroker",
    "ExternalBroker",
    "MosquittoBroker",
    "NativeBroker",
    "broker_from_spec",
]
