"""Broker engines behind one interface: ``embedded`` (amqtt), ``mosquitto``, ``native`` (our own),
or any URL."""

from __future__ import annotations

from typing import Any

from .._errors import ConfigError
from ._base import Broker, BrokerBase
from .embedded import EmbeddedBroker  # amqtt itself is imported only when one starts
from .external import ExternalBroker
from .mosquitto import MosquittoBroker
from .native import NativeBroker

ENGINES = ("embedded", "mosquitto", "native")


def broker_from_spec(spec: str, **options: Any) -> BrokerBase:
    """One broker from a spec string: ``embedded``, ``mosquitto``, or a URL.

    ``options`` go to the engine's constructor (host, port, username, password, ...). Nothing is
    started.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"broker spec must be 'embedded', 'mosquitto' or a URL, got {spec!r}")
    name = spec.strip()
    if name == "embedded":
        return EmbeddedBroker(**options)
    if name == "mosquitto":
        return MosquittoBroker(**options)
    if name == "native":
        return NativeBroker(**options)
    if "://" not in name and ":" not in name and "." not in name and name != "localhost":
        raise ConfigError(
            f"unknown broker engine {name!r}: use 'embedded', 'mosquitto', 'native' or a URL "
            "such as mqtt://host:1883"
        )
    return ExternalBroker(name, **options)


__all__ = [
    "ENGINES",
    "Broker",
    "BrokerBase",
    "EmbeddedBroker",
    "ExternalBroker",
    "MosquittoBroker",
    "NativeBroker",
    "broker_from_spec",
]
