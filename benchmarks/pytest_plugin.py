"""What the pytest plugin's fixtures cost: the figures a test suite pays.

    python benchmarks/pytest_plugin.py [--engine embedded|mosquitto]

- session broker ready: ``mqtt_broker``'s work (spec -> started broker, CONNACK seen) in a fresh
  process, imports included, median of 10 processes;
- per-test subscriber ready: ``mqtt_subscriber(topic)`` until its SUBACK, median of 100;
- ``mqtt_publish`` QoS 1 round trip (until PUBACK), median of 500.
Subscriber and publisher run in this process next to the broker, as they do under pytest.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from mqtt_surge import broker_from_spec
from mqtt_surge.testing import Publisher, RecordingSubscriber

RESULTS = Path(__file__).parent / "results"

SESSION = """
import time
t0 = time.perf_counter()
from mqtt_surge import broker_from_spec
broker = broker_from_spec({engine!r})
broker.start()
print((time.perf_counter() - t0) * 1000)
broker.stop()
"""


def summary(name: str, values: list[float], target: float) -> dict[str, object]:
    median = statistics.median(values)
    verdict = "ok" if median <= target else "OVER TARGET"
    print(
        f"| {name} | {median:.2f} | {min(values):.2f}-{max(values):.2f} | <= {target:g} | "
        f"{verdict} |"
    )
    return {"median_ms": median, "min_ms": min(values), "max_ms": max(values), "target": target}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default="embedded")
    args = parser.parse_args()
    session = [
        float(
            subprocess.run(
                [sys.executable, "-W", "ignore", "-c", SESSION.format(engine=args.engine)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()[-1]
        )
        for _ in range(10)
    ]
    subscriber_ms, publish_ms = [], []
    with broker_from_spec(args.engine) as broker, Publisher(broker.url) as publisher:
        for _ in range(100):
            topic = f"bench/{uuid.uuid4().hex}"
            t0 = time.perf_counter()
            sub = RecordingSubscriber(broker=broker.url, topic=topic).start()
            subscriber_ms.append((time.perf_counter() - t0) * 1000)
            sub.stop()
        for _ in range(500):
            t0 = time.perf_counter()
            publisher.publish("bench/rtt", b"x" * 64, qos=1)
            publish_ms.append((time.perf_counter() - t0) * 1000)
    print(f"# pytest plugin fixtures ({time.strftime('%Y-%m-%d')}, engine {args.engine})\n")
    print("| fixture step | median ms | min-max ms | target ms | |")
    print("|---|---|---|---|---|")
    report = {
        "engine": args.engine,
        "session_broker_ready": summary("session broker ready (fresh process)", session, 300),
        "subscriber_ready": summary("mqtt_subscriber ready (SUBACK)", subscriber_ms, 20),
        "publish_qos1": summary("mqtt_publish QoS 1 (PUBACK)", publish_ms, 5),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"pytest_plugin-{args.engine}.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
