"""One subscriber implementation in a process of its own, measured from inside.

    python _sub_child.py IMPL URL TOPIC N [--qos Q] [--slow S | --async-slow S] [options]

IMPL: paho (no-op on_message), surge, surge-ack (ack="after_processing"), surge-gmqtt and
surge-gmqtt-ack (the same on engine="gmqtt"), original (the original design), aiomqtt
(``async for`` over messages), gmqtt (no-op on_message). Prints READY once subscribed, then one
JSON line when N messages reached the callback (with --until-received: when N were received,
drops expected), or when nothing arrived for 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from mqtt_surge import Subscriber, parse_broker
from mqtt_surge.probe import rss_kb

SURGE = ("surge", "surge-ack", "surge-gmqtt", "surge-gmqtt-ack")


class Clock:
    def __init__(self, target: int) -> None:
        self.target = target
        self.count = 0
        self.first = self.last = 0.0
        self.done = threading.Event()
        self.lock = threading.Lock()

    def tick(self, *_: object) -> None:
        with self.lock:  # callbacks run on several worker threads
            self.count += 1
            now = time.perf_counter()
            if self.count == 1:
                self.first = now
            self.last = now
            if self.count >= self.target:
                self.done.set()


def start_paho(a: argparse.Namespace, clock: Clock) -> Callable[[], object]:
    url = parse_broker(a.url)
    subscribed = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_connect = lambda c, *x: c.subscribe(a.topic, a.qos)
    client.on_subscribe = lambda *x: subscribed.set()
    client.on_message = lambda c, u, m: clock.tick()
    client.connect(url.host, url.port)
    client.loop_start()
    subscribed.wait(10)
    return client.loop_stop


def start_surge(a: argparse.Namespace, clock: Clock) -> Subscriber:
    callback: Callable[[object], Any]
    if a.async_slow:

        async def callback(message: object) -> None:
            await asyncio.sleep(a.async_slow)
            clock.tick()

    else:

        def callback(message: object) -> None:
            if a.slow:
                time.sleep(a.slow)  # simulated slow I/O in the callback
            clock.tick()

    return Subscriber(
        broker=a.url,
        topic=a.topic,
        callback=callback,
        qos=a.qos,
        max_queue_size=a.max_queue_size,
        worker_threads=a.workers,
        max_concurrency=a.max_concurrency,
        ack="after_processing" if a.impl.endswith("-ack") else "on_receive",
        warn_interval=3600,
        engine="gmqtt" if a.impl.startswith("surge-gmqtt") else "paho",
    ).start()


def start_original(a: argparse.Namespace, clock: Clock) -> Callable[[], object]:
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from original_design import OriginalMQTTSubscriber

    url = parse_broker(a.url)
    orig = OriginalMQTTSubscriber(url.host, a.topic, clock.tick, port=url.port)
    orig.start()
    time.sleep(1.0)  # pace: the original has no SUBACK signal; give it its subscribe
    return orig.stop


def start_async_peer(a: argparse.Namespace, clock: Clock) -> Callable[[], object]:
    """aiomqtt or gmqtt on an event loop in a thread; returns a stop function."""
    url = parse_broker(a.url)
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def run_aiomqtt() -> None:
        import aiomqtt

        async with aiomqtt.Client(url.host, url.port) as client:
            await client.subscribe(a.topic, a.qos)
            ready.set()
            reader = asyncio.ensure_future(_consume(client))
            await stop.wait()
            reader.cancel()

    async def _consume(client: Any) -> None:
        async for _message in client.messages:
            clock.tick()

    async def run_gmqtt() -> None:
        import gmqtt

        client = gmqtt.Client(f"bench-{time.monotonic_ns()}")

        def on_message(*_args: object) -> int:
            clock.tick()
            return 0

        client.on_message = on_message
        client.on_subscribe = lambda *_args: ready.set()
        await client.connect(url.host, url.port, version=gmqtt.constants.MQTTv311)
        client.subscribe(a.topic, qos=a.qos)
        await stop.wait()
        await client.disconnect()

    main = run_aiomqtt if a.impl == "aiomqtt" else run_gmqtt
    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()
    ready.wait(10)

    def stopper() -> None:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)

    return stopper


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("impl", choices=[*SURGE, "paho", "original", "aiomqtt", "gmqtt"])
    p.add_argument("url")
    p.add_argument("topic")
    p.add_argument("n", type=int)
    p.add_argument("--slow", type=float, default=0.0, help="time.sleep in the callback")
    p.add_argument("--async-slow", type=float, default=0.0, help="await asyncio.sleep")
    p.add_argument("--max-queue-size", type=int, default=1000)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--max-concurrency", type=int, default=100)
    p.add_argument("--qos", type=int, default=0)
    p.add_argument("--until-received", action="store_true", help="end when N were received")
    a = p.parse_args()
    clock = Clock(a.n)
    sub: Subscriber | None = None
    if a.impl == "paho":
        stop: Callable[[], object] = start_paho(a, clock)
    elif a.impl in SURGE:
        sub = start_surge(a, clock)
        stop = sub.stop
    elif a.impl == "original":
        stop = start_original(a, clock)
    else:
        stop = start_async_peer(a, clock)
    idle_rss = rss_kb()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    print("READY", flush=True)
    seen = -1
    if sub is not None and a.until_received:
        idle_for = 0.0
        while sub.stats().received < a.n and idle_for < 10:
            time.sleep(0.2)  # pace: polling the counters of a process under measurement
            now = sub.stats().received
            idle_for = idle_for + 0.2 if now == seen else 0.0
            seen = now
    else:
        while not clock.done.wait(10):
            if clock.count == seen:
                break
            seen = clock.count
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    result: dict[str, Any] = {
        "impl": a.impl,
        "delivered": clock.count,
        "rate": (clock.count - 1) / (clock.last - clock.first) if clock.count > 1 else 0.0,
        "cpu_us_per_msg": cpu / max(clock.count, 1) * 1e6,
        "user_us_per_msg": (cpu1.ru_utime - cpu0.ru_utime) / max(clock.count, 1) * 1e6,
        "idle_rss_kb": idle_rss,
        "peak_rss_kb": rss_kb("VmHWM"),
    }
    if sub is not None:
        stats = sub.stop()
        result["stats"] = {k: getattr(stats, k) for k in stats.__slots__}
    else:
        stop()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
