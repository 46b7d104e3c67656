"""The mqtt-surge command line: run a broker, subscribe and print, or run the load-test probe."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from .brokers import BROKERS, broker_from_spec
from .runtime.errors import MQTTSurgeError
from .runtime.signals import capture_signals
from .subscriber._message import Message
from .subscriber._options import DEFAULT_MAX_QUEUE_SIZE, DEFAULT_QOS, DEFAULT_START_TIMEOUT
from .subscriber._subscriber import Subscriber
from .subscriber.transports import ENGINE_HELP, ENGINES


def _cmd_broker(args: argparse.Namespace) -> int:
    options: dict[str, object] = {"host": args.host, "port": args.port}
    if args.username is not None:
        options.update(username=args.username, password=args.password)
    if args.engine == "embedded":
        # no test shares this process to read its packet log (broker.packets): recording it
        # would cost a load run's broker a fifth of its rate for nothing
        options["inspect"] = False
    broker = broker_from_spec(args.engine, **options)
    with capture_signals() as stop, broker:
        # the URL alone on one line, so scripts can read it: url=$(mqtt-surge broker | head -1)
        print(broker.url.full, flush=True)
        stop.wait()
    return 0


def printable(data: str | bytes) -> str:
    r"""One line a terminal shows as it is: a byte that is not UTF-8 becomes ``\xNN``, a
    character that is not printable (newline, NUL, the ESC of a terminal sequence) its escape,
    and a backslash ``\\``, so that no two payloads look alike."""
    text = data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif "\udc80" <= char <= "\udcff":  # an undecodable byte, kept by surrogateescape
            out.append(f"\\x{ord(char) - 0xDC00:02x}")
        elif char.isprintable():
            out.append(char)
        else:
            out.append(char.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def _cmd_subscribe(args: argparse.Namespace) -> int:
    def show(message: Message) -> None:
        print(f"{printable(message.topic)} {printable(message.payload)}", flush=True)

    def show_raw(message: Message) -> None:
        out = sys.stdout.buffer
        out.write(message.topic.encode() + b" " + message.payload + b"\n")
        out.flush()

    subscriber = Subscriber(
        broker=args.url,
        topic=args.topics,
        callback=show_raw if args.raw else show,
        qos=args.qos,
        max_queue_size=args.max_queue_size,
        worker_threads=1,  # one worker: lines come out in arrival order
        engine=args.engine,
    )
    with capture_signals() as stop:
        try:
            subscriber.start(timeout=args.timeout)
            print(
                f"# subscribed to {', '.join(args.topics)} at {subscriber.url} "
                f"(engine {subscriber.engine})",
                file=sys.stderr,
            )
            stop.wait()
        finally:
            stats = subscriber.stop()
        fields = ", ".join(f"{name}={getattr(stats, name)}" for name in stats.__slots__)
        print(f"# stats: {fields}", file=sys.stderr)
    return 0


def _cmd_probe(args: argparse.Namespace) -> int:
    from . import probe  # noqa: PLC0415 - only this command needs it
    from .probe.options import options_from  # noqa: PLC0415

    return probe.run(options_from(args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mqtt-surge", description=__doc__)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", required=True)

    broker = sub.add_parser("broker", help="run a local broker in the foreground; prints its URL")
    broker.add_argument("--engine", choices=BROKERS, default="embedded", help="which broker")
    broker.add_argument("--host", default="127.0.0.1")
    broker.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    broker.add_argument("--username", help="only this login gets in (needs --password)")
    broker.add_argument("--password")
    broker.set_defaults(func=_cmd_broker)

    subscribe = sub.add_parser(
        "subscribe", help="print every message as 'topic payload'; the stats at exit (Ctrl-C)"
    )
    subscribe.add_argument("url", help="broker: host, host:port or mqtt://user:pass@host:port")
    subscribe.add_argument("topics", nargs="+", metavar="TOPIC", help="topic filters")
    subscribe.add_argument("--qos", type=int, default=DEFAULT_QOS, choices=(0, 1, 2))
    subscribe.add_argument("--max-queue-size", type=int, default=DEFAULT_MAX_QUEUE_SIZE)
    subscribe.add_argument(
        "--timeout", type=float, default=DEFAULT_START_TIMEOUT, help="seconds to wait for SUBACK"
    )
    subscribe.add_argument("--engine", choices=ENGINES, help=ENGINE_HELP)
    subscribe.add_argument(
        "--raw",
        action="store_true",
        help="write payloads as they came, bytes unchanged (for piping); by default what a "
        "terminal would act on (newlines, NUL, escape sequences) is shown escaped",
    )
    subscribe.set_defaults(func=_cmd_subscribe)

    from .probe.options import add_arguments  # noqa: PLC0415

    probe = sub.add_parser(
        "probe",
        help="the subscriber under a load test: reports its stats, latency and sequence checks "
        "as JSON lines until SIGTERM",
    )
    add_arguments(probe)
    probe.set_defaults(func=_cmd_probe)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (getattr(args, "username", None) is None) != (getattr(args, "password", None) is None):
        parser.error("--username and --password go together")
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except (MQTTSurgeError, ValueError, TypeError) as exc:
        print(f"mqtt-surge: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
