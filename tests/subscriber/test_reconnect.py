"""Connection trouble: a broker restart, a broker that never answers, and at-least-once delivery
across a crash (mosquitto; amqtt does not redeliver unacknowledged messages)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import textwrap
import threading
import uuid
from pathlib import Path

from mqtt_surge import MosquittoBroker, Subscriber
from mqtt_surge.runtime.wire import DISCONNECT, open_session
from mqtt_surge.testing import Publisher, Recorder

from .._support import (
    WAIT,
    Gate,
    start_ready,
    thread_idents,
    threads_started_since,
    wait_until,
)


def test_broker_restart_reconnects_and_resubscribes(topic: str) -> None:
    broker = MosquittoBroker().start()
    recorder = Recorder()
    try:
        sub = Subscriber(broker=broker.url, topic=topic, callback=recorder, qos=1).start()
        with Publisher(broker.url) as pub:
            pub.publish(topic, b"before", qos=1)
            recorder.wait_for(1)
        broker.stop()
        broker.start()  # same port; a clean broker that knows nothing of our subscription
        # a subscription made again on reconnect is the only way this message can arrive
        with Publisher(broker.url) as pub:
            recorder_done = False
            for _ in range(50):
                pub.publish(topic, b"after", qos=1)
                try:
                    recorder.wait_until(lambda ms: ms[-1].payload == b"after", timeout=0.5)
                    recorder_done = True
                    break
                except AssertionError:
                    continue  # not resubscribed yet: publish again
            assert recorder_done, "no message after the broker restart"
        final = sub.stop()
        assert final.reconnects >= 1
        assert final.accounted
    finally:
        broker.stop()


CHILD = textwrap.dedent(
    """
    import json, sys, threading
    from mqtt_surge import Subscriber

    url, topic, client_id, log = sys.argv[1:5]
    hold = threading.Event()

    def handle(message):
        n = int(message.payload)
        with open(log, "a") as f:
            f.write(json.dumps({"n": n}) + "\\n")
        if n >= 3:
            hold.wait()  # processing never finishes: killed here

    sub = Subscriber(
        broker=url, topic=topic, callback=handle, qos=1, ack="after_processing",
        clean_session=False, client_id=client_id, worker_threads=1,
    ).start()
    print("READY", flush=True)
    threading.Event().wait()
    """
)


def test_after_processing_redelivers_what_a_killed_process_never_finished(
    topic: str, tmp_path: Path
) -> None:
    client_id = f"crash-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "processed.jsonl"
    with MosquittoBroker() as broker:
        child = start_ready(CHILD, broker.url.full, topic, client_id, str(log))
        try:
            with Publisher(broker.url) as pub:
                for n in range(6):
                    pub.publish(topic, str(n), qos=1)

            def started() -> list[int]:
                if not log.exists():
                    return []
                return [json.loads(line)["n"] for line in log.read_text().splitlines()]

            # 0, 1, 2 finish (acked); 3 enters the callback and never returns
            wait_until(lambda: started() == [0, 1, 2, 3], what="child reached message 3")
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(WAIT)

        recorder = Recorder()
        with Subscriber(
            broker=broker.url,
            topic=topic,
            callback=recorder,
            qos=1,
            ack="after_processing",
            clean_session=False,
            client_id=client_id,
        ):
            got = recorder.wait_until(lambda ms: len(ms) >= 3, timeout=WAIT)
        payloads = sorted(int(m.payload) for m in got)
        # the three the child never acknowledged come again; the acked ones do not
        assert payloads == [3, 4, 5]


def test_acks_from_an_earlier_connection_are_not_sent(
    topic: str,
) -> None:
    """A message held in a callback across a reconnect must not be acked on the new connection:
    its packet id belongs to the old one (mosquitto redelivers it, and that copy is acked)."""
    client_id = f"stale-{uuid.uuid4().hex[:8]}"
    gate = Gate()
    # the broker's debug log shows every PUBACK it receives, whichever engine sent it
    with MosquittoBroker(extra_config="log_type debug") as broker:
        sub = Subscriber(
            broker=broker.url,
            topic=topic,
            callback=gate,
            qos=1,
            ack="after_processing",
            clean_session=False,
            client_id=client_id,
            worker_threads=1,
        ).start()
        try:
            with Publisher(broker.url) as pub:
                pub.publish(topic, b"m0", qos=1)
                gate.wait_entered()
                # take the session over (keeping it): mosquitto drops our connection and
                # our client reconnects
                intruder = open_session(
                    broker.url, timeout=WAIT, client_id=client_id, clean_session=False
                )
                intruder.sendall(DISCONNECT)
                intruder.close()
                wait_until(lambda: sub.stats().reconnects >= 1, what="a reconnect")
                # the unacknowledged m0 comes again on the new connection
                wait_until(lambda: sub.stats().received == 2, what="m0 redelivered")
            gate.open()
            wait_until(lambda: sub.stats().processed == 2, what="both copies processed")
        finally:
            gate.open()
            sub.stop()
        # the log is read in the background; our DISCONNECT comes after every PUBACK sent (the
        # intruder's DISCONNECT was logged first with the same words: wait for the second)
        wait_until(
            lambda: broker.log.count(f"Client {client_id} disconnected") >= 2,
            what="our disconnect logged",
        )
        pubacks = [line for line in broker.log.splitlines() if f"PUBACK from {client_id}" in line]
    assert gate.passed == [b"m0", b"m0"]  # at least once: the held copy and the redelivery
    assert len(pubacks) == 1, pubacks


def test_a_broker_that_never_answers_connect_is_retried(topic: str) -> None:
    """A listener that accepts the socket and never sends CONNACK must not hold the subscriber
    for good: it gives up on that connection (within the keepalive) and tries again."""
    accepted = threading.Semaphore(0)
    held: list[socket.socket] = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def accept() -> None:
            with contextlib.suppress(OSError):
                while True:
                    held.append(server.accept()[0])
                    accepted.release()

        threading.Thread(target=accept, daemon=True).start()
        sub = Subscriber(broker=f"127.0.0.1:{port}", topic=topic, callback=print, keepalive=2)
        before = thread_idents()
        sub.start(wait=False)
        try:
            assert accepted.acquire(timeout=WAIT)
            assert accepted.acquire(timeout=WAIT * 2), "no second attempt after the silent one"
        finally:
            final = sub.stop()
            for conn in held:
                conn.close()
    wait_until(lambda: not threads_started_since(before), what="threads left")
    assert final.received == 0
