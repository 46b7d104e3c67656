"""The probe's options, defined once: ``mqtt-surge probe``'s arguments, the load suite's
``--probe-*`` options, the argv that passes them from one to the other, and the checks of what a
user plugs in (``--callback``, ``--option``), made with the Subscriber's own.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..runtime.errors import ConfigError
from ..subscriber._buffer import OVERFLOW_POLICIES
from ..subscriber._options import (
    ACK_MODES,
    DEFAULT_MAX_QUEUE_SIZE,
    DEFAULT_STOP_TIMEOUT,
    DEFAULT_WORKER_THREADS,
    SubscriberOptions,
)
from ..subscriber.transports import ENGINE_HELP, ENGINES

# Subscriber options that come from the probe itself, not from --option
_NOT_OPTIONS = {"broker", "topic", "callback", "callbacks", "loop", "on_error"}


def _option(
    default: Any,
    help: str = "",
    *,
    choices: Sequence[Any] = (),
    load: bool = False,
    repeat: bool = False,
) -> Any:
    """A probe option: its default, and how the command line shows it. ``load``: the load suite
    offers it as ``--probe-<name>`` too; ``repeat``: given once per value, a list."""
    return dataclasses.field(
        default=default,
        metadata={"help": help, "choices": tuple(choices), "load": load, "repeat": repeat},
    )


@dataclasses.dataclass
class ProbeOptions:
    """The probe's options: ``mqtt-surge probe``'s arguments and, where marked ``load``, the load
    suite's ``--probe-*`` options, both made from these fields (:func:`add_arguments`,
    :func:`probe_argv`, :func:`options_from`)."""

    url: str
    topic: str
    # QoS 1, not the subscriber's default: the load suite checks every acknowledged message
    qos: int = _option(1, choices=(0, 1, 2))
    max_queue_size: int = _option(DEFAULT_MAX_QUEUE_SIZE, load=True)
    worker_threads: int = _option(DEFAULT_WORKER_THREADS, load=True)
    overflow: str = _option("drop_oldest", choices=OVERFLOW_POLICIES, load=True)
    ack: str = _option("on_receive", choices=ACK_MODES, load=True)
    callback_ms: float = _option(0.0, "simulated work per message", load=True)
    stop_timeout: float = _option(DEFAULT_STOP_TIMEOUT, load=True)
    report_interval: float = _option(0.25)
    samples: int = _option(100, "latency samples per report")
    engine: str | None = _option(None, ENGINE_HELP, choices=ENGINES, load=True)
    sequence_in: str = _option(
        "header",
        "where messages carry their sequence: header, properties (MQTT 5: the probe subscribes "
        "with MQTT 5) or field:NAME (a JSON object payload)",
    )
    subscribers: int = _option(
        1, "subscriber connections on the topic (fan-out): each must get every message", load=True
    )
    callback: str | None = _option(
        None,
        "your callback under test, package.module:function (sync or async def); it runs after "
        "the probe's own accounting, and what it raises is counted and reported",
        load=True,
    )
    option: list[str] | None = _option(  # noqa: RUF009 - a dataclasses.field, default None
        None,
        "a Subscriber option as name=value (repeatable), e.g. worker_threads=8; it wins over the "
        "probe's own options",
        load=True,
        repeat=True,
    )


def _flag(field: dataclasses.Field[Any], prefix: str = "") -> str:
    return "--" + prefix + field.name.replace("_", "-")


def _options() -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(ProbeOptions) if f.metadata]


def add_option_arguments(
    add: Callable[..., Any], *, prefix: str = "", load_only: bool = False
) -> None:
    """Add the probe's options through ``add`` (``parser.add_argument``), each as
    ``--<prefix><name>``; ``load_only``: only those the load suite offers."""
    for field in _options():
        if load_only and not field.metadata["load"]:
            continue
        extra: dict[str, Any] = {"default": field.default, "help": field.metadata["help"] or None}
        if field.metadata["repeat"]:
            extra["action"] = "append"
        if field.metadata["choices"]:
            extra["choices"] = field.metadata["choices"]
        if field.default is not None:
            extra["type"] = type(field.default)
        add(_flag(field, prefix), **extra)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="broker: host, host:port or mqtt://user:pass@host:port")
    parser.add_argument("topic", help="topic filter to subscribe to")
    add_option_arguments(parser.add_argument)


def options_from(args: argparse.Namespace) -> ProbeOptions:
    return ProbeOptions(
        url=args.url,
        topic=args.topic,
        **{field.name: getattr(args, field.name) for field in _options()},
    )


def probe_argv(url: str, topic: str, values: Mapping[str, Any]) -> list[str]:
    """The arguments of ``mqtt-surge probe`` for ``values`` (option name -> value; options left
    out, or None, keep the probe's defaults)."""
    argv = [url, topic]
    for field in _options():
        value = values.get(field.name)
        if value is None:
            continue
        for one in value if field.metadata["repeat"] else [value]:
            argv += [_flag(field), str(one)]
    return argv


def subscriber_options(pairs: Sequence[str] | None) -> dict[str, Any]:
    """``["worker_threads=8", "overflow=block"]`` as Subscriber keywords. A value is read as a
    Python literal (``8``, ``False``, ``'topic'``) where it is one, else as the text given. Names
    and values are checked by the Subscriber's own checks; ConfigError names what is wrong."""
    allowed = {f.name for f in dataclasses.fields(SubscriberOptions) if f.init} - _NOT_OPTIONS
    options: dict[str, Any] = {}
    for pair in pairs or ():
        name, sep, text = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            raise ConfigError(f"--option takes name=value, got {pair!r}")
        if name not in allowed:
            names = ", ".join(sorted(allowed))
            raise ConfigError(f"--option {name!r} is not a Subscriber option; use one of {names}")
        try:
            options[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            options[name] = text
    # the Subscriber's checks, with a stand-in broker and callback: a bad value fails here
    SubscriberOptions(broker="localhost", topic="probe/#", callback=print, **options)
    return options


def parse_callback(spec: str) -> tuple[str, str]:
    """``package.module:function`` as (module, attribute); ConfigError if it is not that."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigError(f"--callback takes package.module:function, got {spec!r}")
    return module_name, attribute


def import_callback(spec: str) -> Callable[..., Any]:
    """``package.module:function`` (or ``:Class.method``), imported."""
    module_name, attribute = parse_callback(spec)
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"--callback {spec!r}: cannot import {module_name!r}: {exc}") from exc
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ConfigError(f"--callback {spec!r}: {module_name!r} has no {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ConfigError(f"--callback {spec!r} is not callable: {target!r}")
    return target  # type: ignore[no-any-return]
