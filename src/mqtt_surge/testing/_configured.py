"""A broker of a test's own: ``mqtt_broker_factory(**options)`` and
``@pytest.mark.mqtt_broker(**options)``; which engine starts it, and how a failure reads."""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

from ..brokers import BROKERS, BrokerBase, BrokerOptions, broker_from_spec
from ..runtime.errors import BrokerError, ConfigError
from ._session import describe_spec


class Configured(NamedTuple):
    """A broker a test marked ``mqtt_broker(tls=True, ...)`` gets for itself."""

    engine: str
    options: dict[str, Any]


def engine_for(spec: str, protocol: int | None, needs: list[str], options: dict[str, Any]) -> str:
    """The engine that starts a configured broker for ``spec``, or ``"skip:<reason>"``. amqtt
    hands over to the embedded broker, as for a behaviour it lacks; a URL cannot be configured."""
    if spec not in BROKERS and spec != "native":
        return (
            f"skip:mqtt-surge: --mqtt-broker={describe_spec(spec)} is a broker we did not start "
            "and cannot configure (options: " + ", ".join(sorted(options)) + ")"
        )
    engine = broker_from_spec(spec)
    gaps = engine.capabilities.missing(protocol, needs) + engine.capabilities.missing_options(
        options
    )
    if not gaps:
        return spec
    if spec == "amqtt":
        return "embedded"
    return f"skip:mqtt-surge: {engine.engine} lacks {'; '.join(gaps)}"


def configured_param(
    spec: str, protocol: int | None, needs: list[str], options: dict[str, Any]
) -> Any:
    """The ``mqtt_broker`` parameter of a test marked with broker options: a broker of its own
    (:class:`Configured`), or the reason it is skipped."""
    engine = engine_for(spec, protocol, needs, options)
    if engine.startswith("skip:"):
        return pytest.param(spec, marks=pytest.mark.skip(reason=engine[5:]))
    return pytest.param(Configured(engine, options), id=f"{engine}-configured")


class BrokerFactory:
    """``mqtt_broker_factory``: each call starts a broker of the spec's engine; :meth:`stop`
    stops them all."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.made: list[BrokerBase] = []

    def __call__(self, **options: Any) -> BrokerBase:
        __tracebackhide__ = True
        try:
            BrokerOptions.check(**options)
        except ConfigError as exc:
            error = exc  # raised below, outside this handler: no chain of our frames to it
        else:
            engine = engine_for(self.spec, None, [], options)
            if engine.startswith("skip:"):
                pytest.skip(engine[5:])
            broker = start_configured(engine, options)
            self.made.append(broker)
            return broker
        raise error.with_traceback(None)

    def stop(self) -> None:
        for broker in self.made:
            broker.stop()


def start_configured(spec: str, options: dict[str, Any]) -> BrokerBase:
    __tracebackhide__ = True
    try:
        broker = broker_from_spec(spec, **options)
        broker.start()
    except (BrokerError, ConfigError) as exc:
        pytest.fail(f"mqtt-surge could not start a {spec} broker with {options}: {exc}", False)
    return broker
