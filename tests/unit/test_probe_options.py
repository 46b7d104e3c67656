"""The probe's options, defined once: argparse, argv and the checks of what a user plugs in."""

from __future__ import annotations

import argparse

import pytest

from mqtt_surge import ConfigError
from mqtt_surge.probe.options import (
    ProbeOptions,
    add_arguments,
    add_option_arguments,
    import_callback,
    options_from,
    probe_argv,
    subscriber_options,
)


def test_argv_and_argparse_round_trip() -> None:
    values = {
        "qos": 0,
        "worker_threads": 8,
        "overflow": "block",
        "engine": "paho",
        "callback": "examples.app.handlers:on_reading",
        "option": ["ordered=topic", "max_concurrency=5"],
    }
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    parsed = options_from(parser.parse_args(probe_argv("mqtt://h:1883", "t/#", values)))
    assert parsed == ProbeOptions(url="mqtt://h:1883", topic="t/#", **values)  # type: ignore[arg-type]


def test_the_load_suite_offers_the_marked_options_with_a_prefix() -> None:
    parser = argparse.ArgumentParser()
    add_option_arguments(parser.add_argument, prefix="probe-", load_only=True)
    args = parser.parse_args(["--probe-option", "a=1", "--probe-option", "b=2"])
    assert args.probe_option == ["a=1", "b=2"]
    assert args.probe_max_queue_size == 1000
    assert not hasattr(args, "probe_report_interval")  # the probe's own, not the load suite's
    with pytest.raises(SystemExit):
        parser.parse_args(["--probe-overflow", "sometimes"])  # choices from the buffer's policies


def test_subscriber_options_are_read_as_literals_or_text() -> None:
    assert subscriber_options(["worker_threads=8", "ordered=topic", "overflow='block'"]) == {
        "worker_threads": 8,
        "ordered": "topic",
        "overflow": "block",
    }
    assert subscriber_options(None) == {}


@pytest.mark.parametrize(
    ("pair", "words"),
    [
        ("worker_threads=0", "worker_threads must be an int >= 1, got 0"),
        ("overflow=sometimes", "overflow must be one of"),
        ("no_such=1", "'no_such' is not a Subscriber option"),
        ("broker=elsewhere", "'broker' is not a Subscriber option"),
        ("worker_threads", "takes name=value"),
    ],
)
def test_a_bad_subscriber_option_is_refused_naming_it(pair: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        subscriber_options([pair])


def test_a_callback_is_imported_by_name() -> None:
    from examples.app.handlers import on_reading

    assert import_callback("examples.app.handlers:on_reading") is on_reading
    assert import_callback("json:JSONDecoder.decode") is __import__("json").JSONDecoder.decode


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("examples.app.handlers", "takes package.module:function"),
        ("no_such_module_here:f", "cannot import 'no_such_module_here'"),
        ("examples.app.handlers:nothing", "has no 'nothing'"),
        ("examples.app.handlers:latest", "is not callable"),
    ],
)
def test_a_bad_callback_is_refused_naming_it(spec: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        import_callback(spec)
