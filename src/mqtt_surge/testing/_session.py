"""The brokers of one pytest session: one per spec, started when a test first needs it, kept
until the session ends; a start that failed is said once and not tried again."""

from __future__ import annotations

from ..brokers import BrokerBase, broker_from_spec
from ..runtime.errors import BrokerError, ConfigError

_LOCAL = {
    "embedded": "mqtt-surge's own broker in a thread, MQTT 3.1.1 and 5",
    "amqtt": "amqtt in a thread, MQTT 3.1.1",
    "mosquitto": "a mosquitto process",
    "native": "mqtt-surge's own broker in a thread, MQTT 3.1.1 and 5",
}


def describe_spec(spec: str) -> str:
    """What ``spec`` will run, credentials redacted (for the report header)."""
    if spec in _LOCAL:
        return f"{spec} ({_LOCAL[spec]} on 127.0.0.1, a free port; started on first use)"
    try:
        return str(broker_from_spec(spec).url)  # the redacted URL
    except ValueError as exc:
        return f"invalid: {exc}"


class SessionBrokers:
    def __init__(self) -> None:
        self._brokers: dict[str, BrokerBase | str] = {}  # spec -> broker, or why it failed
        self.started: list[str] = []  # "engine url" of each, in the order they started

    def get(self, spec: str) -> BrokerBase | str:
        """The started broker for ``spec``, or the one-line reason it could not start."""
        if spec not in self._brokers:
            try:
                broker = broker_from_spec(spec)
                broker.start()
            except (BrokerError, ConfigError) as exc:
                # the engine's message names the address and the fix; its chain of causes
                # would repeat it in every test
                self._brokers[spec] = (
                    f"mqtt-surge could not provide a broker: {type(exc).__name__}: {exc}"
                )
            else:
                self._brokers[spec] = broker
                self.started.append(f"{broker.engine} {broker.url}")
        return self._brokers[spec]

    def stop(self) -> None:
        for broker in self._brokers.values():
            if not isinstance(broker, str):
                broker.stop()
