"""Where the subscriber's transports were documented: they live in
:mod:`mqtt_surge.subscriber.transports` now; these names stay importable from here."""

from ..subscriber.transports import (
    ENGINE_ENV,
    ENGINE_HELP,
    ENGINES,
    Engine,
    Events,
    Item,
    Settings,
    Transport,
    TransportFactory,
    factory,
    resolve_engine,
)

__all__ = [
    "ENGINES",
    "ENGINE_ENV",
    "ENGINE_HELP",
    "Engine",
    "Events",
    "Item",
    "Settings",
    "Transport",
    "TransportFactory",
    "factory",
    "resolve_engine",
]
