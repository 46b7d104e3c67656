"""Graceful shutdown in the middle of a burst: the probe gets SIGTERM while messages pour in.

    cd locustfiles && locust -f graceful_shutdown.py

Checks: the probe exits within --probe-stop-timeout (plus --check-stop-margin); every message is
accounted for (received == processed + failed + dropped + abandoned, nothing queued or in
flight); with this much drain time nothing is abandoned; no thread is left behind; exit code 0.
"""

from locust import events, task

from mqtt_surge.loadtest import SHORT_RUN, MqttPublisherUser, RunData, check


@events.init_command_line_parser.add_listener
def defaults(parser) -> None:
    # 4 workers at 5 ms: about 800 msg/s, so at 2 x 1,500 msg/s offered the buffer is full when
    # SIGTERM comes, and a 5 s stop timeout is ample to drain 1,000 queued messages. The offer
    # stays below what the probe receives (5,000-13,000 msg/s here): the broker keeps delivering
    # a backlog queued before the UNSUBSCRIBE (mosquitto and the embedded broker alike,
    # tests/brokers/test_unsubscribe_backlog.py), so an unpaced offer to a broker that accepts
    # faster than the probe reads would measure that backlog, not the subscriber's stop
    parser.set_defaults(
        **SHORT_RUN,
        mqtt_rate=1500,
        probe_max_queue_size=1000,
        probe_callback_ms=5,
        probe_worker_threads=4,
        probe_stop_timeout=5,
        probe_sigterm_at=4,
    )


class BurstPublisher(MqttPublisherUser):
    qos = 1
    batch = 200

    @task
    def burst(self) -> None:
        self.publish()


@check("stopped in time", lambda o: f"<= {o.probe_stop_timeout + o.check_stop_margin:g} s")
def stopped_in_time(run: RunData) -> tuple[str, bool]:
    if run.probe_signalled_at is None or run.probe_exited_at is None:
        return "not signalled or did not exit", False
    took = run.probe_exited_at - run.probe_signalled_at
    limit = run.options.probe_stop_timeout + run.options.check_stop_margin
    return f"{took:.2f} s (stop() took {run.last.get('stop_seconds', 0):.2f} s)", took <= limit


@check("every message accounted for", "received == processed + failed + dropped + abandoned")
def accounted(run: RunData) -> tuple[str, bool]:
    s = run.stats
    settled = s.get("processed", 0) + s.get("failed", 0) + s.get("dropped", 0)
    total = settled + s.get("abandoned", 0)
    text = (
        f"{s.get('received')} == {total}; queued {s.get('queued')}, in flight {s.get('in_flight')}"
    )
    ok = run.final is not None and s.get("received") == total and not s.get("queued")
    return text, ok and not s.get("in_flight") and s.get("received", 0) > 0


@check("nothing abandoned", "abandoned == 0")
def nothing_abandoned(run: RunData) -> tuple[str, bool]:
    return f"{run.stats.get('abandoned')}", run.final is not None and run.stats.get(
        "abandoned"
    ) == 0


@check("no thread left", "only the main thread after stop()")
def no_thread_left(run: RunData) -> tuple[str, bool]:
    left = (run.final or {}).get("threads_left")
    return f"{left}", left == []


@check("probe exit code", "0")
def exit_code(run: RunData) -> tuple[str, bool]:
    return f"{run.probe_exit_code}", run.probe_exit_code == 0
