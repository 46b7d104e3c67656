"""The subscriber's process SIGKILLed with QoS 1 messages it had not processed, then restarted.

A child process runs a persistent QoS 1 subscriber that acks after processing (a 1 ms callback,
one worker, a buffer of 200) and writes each sequence number it finished to a file; 2,000
messages are published; once about a quarter are done the child is killed with SIGKILL. A
subscriber with the same client id then resumes the session: every message the child did not
finish must come again (3.1.1 [MQTT-4.4.0-1]: on reconnect with CleanSession 0 the server resends
unacknowledged QoS 1 PUBLISH packets; the queued ones follow, [MQTT-3.1.2-5]). Ones the child
finished but had not acked yet may come twice: at least once, not exactly once.
"""

from __future__ import annotations

import os
import signal
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from mqtt_surge import Message, MosquittoBroker, Subscriber
from mqtt_surge.testing import Publisher, unpack_header

from .._support import WAIT, start_ready, wait_until

SENT = 2000
KILL_AFTER = 500

CHILD = textwrap.dedent(
    """
    import os, sys, time
    from mqtt_surge import Subscriber
    from mqtt_surge.testing import unpack_header

    url, topic, client_id, log = sys.argv[1:5]
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)

    def handle(message):
        time.sleep(0.001)  # the work; killed somewhere in the middle of it
        os.write(fd, b"%d\\n" % unpack_header(message.payload).sequence)

    Subscriber(
        broker=url, topic=topic, callback=handle, qos=1, ack="after_processing",
        clean_session=False, client_id=client_id, worker_threads=1, max_queue_size=200,
    ).start()
    print("READY", flush=True)
    time.sleep(3600)
    """
)


def _finished(log: Path) -> list[int]:
    if not log.exists():
        return []
    return [int(line) for line in log.read_text().split()]


def test_a_killed_subscriber_gets_everything_it_had_not_finished_again(
    engine: str, figures: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    topic = f"reliability/crash/{uuid.uuid4().hex[:8]}"
    client_id = f"crash-{engine}-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "finished.txt"
    with MosquittoBroker() as broker:
        child = start_ready(CHILD, broker.url.full, topic, client_id, str(log))
        try:
            with Publisher(broker.url) as pub:
                sent = pub.burst(topic, SENT, qos=1)
            wait_until(lambda: len(_finished(log)) >= KILL_AFTER, what="the child at work")
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(WAIT)
        before = _finished(log)
        unfinished = set(sent) - set(before)

        got: list[int] = []
        lock = threading.Lock()

        def record(message: Message) -> None:
            header = unpack_header(message.payload)
            assert header is not None
            with lock:
                got.append(header.sequence)

        restarted = time.monotonic()
        with Subscriber(
            broker.url,
            topic,
            record,
            qos=1,
            ack="after_processing",
            clean_session=False,
            client_id=client_id,
            max_queue_size=200,
        ) as sub:
            wait_until(lambda: unfinished <= set(got), timeout=60, what="all redelivered")
            took = time.monotonic() - restarted
            final = sub.stop()
    row = {
        "engine": engine,
        "fault": "sigkill",
        "mode": "qos1-ack-persistent",
        "keepalive_s": 60,
        "detect_s": None,
        "resume_after_heal_s": round(took, 2),  # restart to the last redelivered message
        "sent": len(sent),
        "finished_before_kill": len(before),
        "unfinished_at_kill": len(unfinished),
        "redelivered": len(set(got)),
        "lost": len(set(sent) - set(before) - set(got)),
        "duplicates": len(before) + len(got) - len(set(before) | set(got)),
        "dropped": final.dropped,
        "max_queue_depth": final.max_queue_depth,
    }
    figures[f"sigkill/{engine}/qos1-ack-persistent"] = row
    assert row["lost"] == 0, row
    assert row["unfinished_at_kill"] > 0, row  # the kill left work undone: the case under test
    assert final.accounted, final
