"""Transports: the network side of a subscriber, one module per client library.

``paho`` (the default) and ``gmqtt`` (faster, extra ``fast``) talk to a broker; ``fake`` talks to
nothing and lets a test inject messages, refusals and lost connections. Engines are named here
and imported only when one is used (``"module:attribute"``, as uvicorn picks its loops): this
package imports no client library, and no engine module imports it back.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable
from typing import Literal

from ...runtime.errors import ConfigError, EngineNotInstalledError, refusal
from ._base import (
    Events,
    Item,
    Settings,
    Transport,
    connect_error,
    new_item,
    silence_limit,
    ssl_context,
)

Engine = Literal["paho", "gmqtt"]
ENGINES: tuple[str, ...] = ("paho", "gmqtt")
ENGINE_ENV = "MQTT_SURGE_ENGINE"
ENGINE_HELP = f"client engine: paho or gmqtt (faster, extra 'fast'); default ${ENGINE_ENV} or paho"
# a transport is built per connection attempt series (each start) from the settings and events
TransportFactory = Callable[[Settings, Events], Transport]

_REGISTRY: dict[str, str] = {
    "paho": "mqtt_surge.subscriber.transports.paho:PahoTransport",
    "gmqtt": "mqtt_surge.subscriber.transports.gmqtt:GmqttTransport",
}
_NEEDS: dict[str, tuple[str, str]] = {"gmqtt": ("gmqtt", "fast")}  # engine: (package, extra)

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
    "connect_error",
    "factory",
    "new_item",
    "refusal",
    "resolve_engine",
    "silence_limit",
    "ssl_context",
]


def resolve_engine(engine: str | None) -> Engine:
    """``engine`` checked; None means ``$MQTT_SURGE_ENGINE``, else paho."""
    chosen = engine if engine is not None else os.environ.get(ENGINE_ENV) or "paho"
    if chosen == "paho":
        return "paho"
    if chosen == "gmqtt":
        package, extra = _NEEDS["gmqtt"]
        if importlib.util.find_spec(package) is None:
            raise EngineNotInstalledError(
                f"engine='gmqtt' needs the gmqtt package: pip install 'mqtt-surge[{extra}]'"
            )
        return "gmqtt"
    source = "engine" if engine is not None else f"${ENGINE_ENV}"
    raise ConfigError(f"{source} must be one of {', '.join(ENGINES)}; got {chosen!r}")


def factory(engine: Engine) -> TransportFactory:
    """The transport class of a resolved engine, imported now."""
    module, _, attribute = _REGISTRY[engine].partition(":")
    built: TransportFactory = getattr(importlib.import_module(module), attribute)
    return built
