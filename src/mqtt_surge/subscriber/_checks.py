"""Checks of single option values, each refusing a bad one with a message that names it."""

from __future__ import annotations

import functools
import inspect
import pickle
from collections.abc import Iterable
from typing import Any

from ..runtime.errors import ConfigError
from ..runtime.url import BrokerURL
from ._message import validate_filter

MAX_STRING = 65535  # bytes in an MQTT UTF-8 string


def is_broker(obj: object) -> bool:
    # look on the type: reading ``url`` of a broker that has not started raises
    return not isinstance(obj, (str, BrokerURL)) and all(
        hasattr(type(obj), name) for name in ("url", "start", "stop")
    )


def is_async_callable(fn: object) -> bool:
    """Whether calling ``fn`` gives a coroutine (``async def``, a partial of one, an object with
    an ``async def __call__``)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - async __call__ on an object
    )


def parse_topics(topic: Any, qos: int) -> list[tuple[str, int]]:
    if topic is None:
        return []
    items: Iterable[object]
    if isinstance(topic, str) or (
        isinstance(topic, tuple) and len(topic) == 2 and isinstance(topic[1], int)
    ):
        items = [topic]
    elif isinstance(topic, (list, tuple)):
        items = topic
    else:
        raise ConfigError(
            f"topic must be a filter, a (filter, qos) pair or a list of them, got {topic!r}"
        )
    result = []
    for item in items:
        if isinstance(item, str):
            name, item_qos = item, qos
        elif isinstance(item, tuple) and len(item) == 2:
            name, item_qos = item
        else:
            raise ConfigError(f"topic entries must be filters or (filter, qos) pairs, got {item!r}")
        result.append((validate_filter(name), check_qos(item_qos, f"QoS of {name!r}")))
    if not result:
        raise ConfigError("topic is an empty list: give at least one topic filter")
    return result


def check_qos(qos: object, what: str = "qos") -> int:
    if isinstance(qos, bool) or not isinstance(qos, int) or qos not in (0, 1, 2):
        raise ConfigError(f"{what} must be 0, 1 or 2, got {qos!r}")
    return qos


def check_text(name: str, value: object, *, secret: bool = False) -> str | None:
    """An MQTT UTF-8 string option: str or None, no NUL [MQTT-1.5.3-2], at most 65,535 bytes.
    A ``secret`` one is never echoed in the error."""
    if value is None:
        return None
    shown = "it" if secret else repr(value)
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a str, got {type(value).__name__ if secret else shown}")
    if "\x00" in value:
        raise ConfigError(f"{name} contains a NUL character: {shown}")
    try:
        size = len(value.encode())
    except UnicodeEncodeError as exc:
        raise ConfigError(f"{name} is not valid UTF-8 text ({exc.reason}): {shown}") from None
    if size > MAX_STRING:
        raise ConfigError(f"{name} is longer than 65,535 bytes in UTF-8 ({size:,})")
    return value


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return str(value)


def check_picklable(name: str, value: object) -> None:
    try:
        pickle.dumps(value)
    except Exception as exc:  # any pickling failure: the reason is in the message
        raise ConfigError(
            f"processes > 1 sends {name} to each process, so it must be importable by name (a "
            f"module-level function) or picklable; {value!r} is not: {exc}"
        ) from None


def check_positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be an int >= 1, got {value!r}")
    return value
