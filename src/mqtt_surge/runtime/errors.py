"""Exceptions and warning categories.

The whole tree::

    MQTTSurgeError
    ├── ConfigError (also ValueError)      bad input, raised at construction
    ├── BrokerError
    │   ├── BrokerStartError                an engine could not start or never answered CONNACK
    │   └── EngineNotInstalledError         amqtt, mosquitto or gmqtt is missing (also ImportError)
    ├── ConnectError                        CONNECT failed: unreachable, refused, bad login, timeout
    └── SubscribeError                      the broker rejected a subscription

    MQTTSurgeWarning (UserWarning)
    ├── QueueFullWarning                    the buffer is full and messages are being dropped
    ├── WorkersOverloadedWarning            the buffer stayed nearly full: callbacks are too slow
    └── AsyncioLoopWarning                  a sync callback was started inside a running event loop
"""

from __future__ import annotations

from ..mqtt import reasons


class MQTTSurgeError(Exception):
    """Base class of every error mqtt-surge raises on purpose."""


class ConfigError(MQTTSurgeError, ValueError):
    """A value given to mqtt-surge is invalid; the message names it and what would be valid."""


class BrokerError(MQTTSurgeError):
    """Something went wrong with a broker engine."""


class BrokerStartError(BrokerError):
    """A broker did not start, or did not answer an MQTT CONNECT in time."""


class EngineNotInstalledError(BrokerError, ImportError):
    """The software behind an engine is not installed (a broker's, or gmqtt for the subscriber's
    ``engine="gmqtt"``); the message lists the fixes."""


class ConnectError(MQTTSurgeError):
    """An MQTT connection could not be established.

    ``reason`` is one of ``"unreachable"``, ``"refused"``, ``"bad_credentials"``,
    ``"not_authorized"``, ``"timeout"``, ``"protocol"``.
    """

    def __init__(self, message: str, *, reason: str, return_code: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.return_code = return_code


class SubscribeError(MQTTSurgeError):
    """The broker rejected a subscription (SUBACK failure code)."""


class MQTTSurgeWarning(UserWarning):
    """Base class of mqtt-surge's warnings.

    Filter them with ``-W error::mqtt_surge.MQTTSurgeWarning``.
    """


class QueueFullWarning(MQTTSurgeWarning):
    """The buffer reached ``max_queue_size`` and messages were dropped."""


class WorkersOverloadedWarning(MQTTSurgeWarning):
    """The buffer stayed above 80% for over a second: callbacks are slower than arrival."""


class AsyncioLoopWarning(MQTTSurgeWarning):
    """A synchronous callback was started while an asyncio event loop is running."""


def refusal(code: int, where: str, text: str | None = None) -> ConnectError:
    """A refused CONNACK as our error, classified so that callers can tell a bad login;
    ``text`` is the engine's words for it, else the table's."""
    reason, known = reasons.CONNACK.get(code, ("refused", f"return code {code}"))
    return ConnectError(
        f"{where} refused the connection: {text or known}", reason=reason, return_code=code
    )
