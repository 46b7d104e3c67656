"""One subscriber implementation in a process of its own, measured from inside.

    python _sub_child.py IMPL URL TOPIC N [--slow SECONDS] [--max-queue-size N] [--qos Q]

Prints READY once subscribed, then one JSON line when N messages were delivered to the callback
(or, with drops expected, when N were received), or when nothing arrived for 10 s.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import threading
import time

import paho.mqtt.client as mqtt

from mqtt_surge import Subscriber, parse_broker
from mqtt_surge.probe import rss_kb


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


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("impl", choices=["paho", "surge", "surge-ack", "original"])
    p.add_argument("url")
    p.add_argument("topic")
    p.add_argument("n", type=int)
    p.add_argument("--slow", type=float, default=0.0)
    p.add_argument("--max-queue-size", type=int, default=1000)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--qos", type=int, default=0)
    a = p.parse_args()
    url = parse_broker(a.url)
    clock = Clock(a.n)

    def callback(message: object) -> None:
        if a.slow:
            time.sleep(a.slow)  # simulated slow I/O in the callback
        clock.tick()

    stop: object
    sub: Subscriber | None = None
    if a.impl == "paho":
        subscribed = threading.Event()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        client.on_connect = lambda c, *x: c.subscribe(a.topic, a.qos)
        client.on_subscribe = lambda *x: subscribed.set()
        client.on_message = lambda c, u, m: clock.tick()
        client.connect(url.host, url.port)
        client.loop_start()
        subscribed.wait(10)
        stop = client.loop_stop
    elif a.impl in ("surge", "surge-ack"):
        sub = Subscriber(
            broker=url,
            topic=a.topic,
            callback=callback,
            qos=a.qos,
            max_queue_size=a.max_queue_size,
            worker_threads=a.workers,
            ack="after_processing" if a.impl == "surge-ack" else "on_receive",
            warn_interval=3600,
        ).start()
        stop = sub.stop
    else:
        sys.path.insert(0, __file__.rsplit("/", 1)[0])
        from original_design import OriginalMQTTSubscriber

        orig = OriginalMQTTSubscriber(url.host, a.topic, callback, port=url.port)
        orig.start()
        time.sleep(1.0)  # pace: the original has no SUBACK signal; give it its subscribe
        stop = orig.stop
    idle_rss = rss_kb()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    print("READY", flush=True)
    if sub is not None and a.slow:
        # with drops expected, the end is when everything was received, not processed
        deadline_idle, seen = 10.0, -1
        while sub.stats().received < a.n:
            time.sleep(0.2)  # pace: polling the counters of a process under measurement
            now = sub.stats().received
            if now == seen:
                deadline_idle -= 0.2
                if deadline_idle <= 0:
                    break
            else:
                seen, deadline_idle = now, 10.0
    else:
        seen = -1
        while not clock.done.wait(10):
            if clock.count == seen:
                break
            seen = clock.count
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    result = {
        "impl": a.impl,
        "delivered": clock.count,
        "rate": (clock.count - 1) / (clock.last - clock.first) if clock.count > 1 else 0.0,
        "cpu_us_per_msg": cpu / max(clock.count, 1) * 1e6,
        "user_us_per_msg": (cpu1.ru_utime - cpu0.ru_utime) / max(clock.count, 1) * 1e6,
        "ctx_switches_per_msg": (cpu1.ru_nvcsw - cpu0.ru_nvcsw + cpu1.ru_nivcsw - cpu0.ru_nivcsw)
        / max(clock.count, 1),
        "idle_rss_kb": idle_rss,
        "peak_rss_kb": rss_kb("VmHWM"),
    }
    if sub is not None:
        stats = sub.stop()
        result["stats"] = {k: getattr(stats, k) for k in stats.__slots__}
    else:
        stop()  # type: ignore[operator]
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
