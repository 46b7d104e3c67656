"""Drop-oldest under bursts: bursts far above what the probe can process (small queue, slow
callback), with quiet spells between them in which it drains.

    cd locustfiles && locust -f drop_oldest.py

Each burst is published by a new user under a new publisher id, so every burst is its own
sequence. Checks: drops happened; in every burst the newest --probe-max-queue-size messages were
all processed and every dropped one is older than them (what drop-oldest promises); the queue
never held more than --probe-max-queue-size; the queue-full warning was emitted; the probe's RSS
grew less than --check-max-rss-growth-mb.
"""

from locust import LoadTestShape, constant, events, task

from mqtt_surge.loadtest import MqttPublisherUser, RunData, check


@events.init_command_line_parser.add_listener
def defaults(parser) -> None:
    parser.add_argument("--bursts", type=int, default=3, help="how many bursts")
    parser.add_argument("--burst-period", type=float, default=4.0, help="seconds per burst cycle")
    parser.add_argument("--burst-size", type=int, default=2000, help="messages per burst")
    # about 200 msg/s of capacity against bursts of 2,000 at broker speed
    parser.set_defaults(
        probe_max_queue_size=100,
        probe_callback_ms=5,
        probe_worker_threads=1,
        probe_overflow="drop_oldest",
    )


class BurstPublisher(MqttPublisherUser):
    qos = 1
    wait_time = constant(60)  # one burst per user: the shape starts a new user for the next

    def on_start(self) -> None:
        super().on_start()
        self.new_burst()
        self.publish(batch=self.environment.parsed_options.burst_size)

    @task
    def idle(self) -> None:
        """Nothing more: the burst went out in on_start."""


class Bursts(LoadTestShape):
    """One publisher for the first second of every --burst-period, none for the rest (the
    probe drains), --bursts times."""

    burst_seconds = 1.0

    def tick(self) -> tuple[int, float] | None:
        options = self.runner.environment.parsed_options
        elapsed = self.get_run_time()
        if elapsed >= options.bursts * options.burst_period:
            return None
        return (1, 10) if elapsed % options.burst_period < self.burst_seconds else (0, 10)


def _queue(run: RunData) -> int:
    return int(run.options.probe_max_queue_size)


@check("drops happened", "dropped > 0")
def drops_happened(run: RunData) -> tuple[str, bool]:
    dropped = run.stats.get("dropped", 0)
    return f"{dropped} dropped of {run.stats.get('received')}", dropped > 0


@check("newest survive each burst", lambda o: f"newest {o.probe_max_queue_size} processed")
def newest_survive(run: RunData) -> tuple[str, bool]:
    publishers = (run.final or {}).get("publishers", {})
    bad = []
    for pid, sent in run.sent.items():
        seen = publishers.get(str(pid))
        window_from = max(0, sent - _queue(run))
        # the unbroken run of processed messages must end at the last one sent and reach back
        # over the newest max_queue_size; every gap (a drop) then lies below it
        if seen is None or seen["highest"] != sent - 1 or seen["tail_from"] > window_from:
            bad.append(f"{pid}: {seen}")
    return (
        f"{len(run.sent) - len(bad)} of {len(run.sent)} bursts" + (f"; {bad}" if bad else ""),
        bool(run.sent) and not bad,
    )


@check("queue depth bounded", lambda o: f"max depth <= {o.probe_max_queue_size}")
def depth_bounded(run: RunData) -> tuple[str, bool]:
    depth = run.max_queue_depth()
    return f"{depth}", 0 < depth <= _queue(run)


@check("queue-full warning", "emitted")
def warned(run: RunData) -> tuple[str, bool]:
    count = run.last.get("queue_full_warnings", 0)
    return f"{count} warning(s)", count > 0


@check("probe RSS bounded", lambda o: f"growth <= {o.check_max_rss_growth_mb:g} MB")
def rss_bounded(run: RunData) -> tuple[str, bool]:
    growth = run.peak_rss_mb() - run.idle_rss_mb()
    return f"+{growth:.1f} MB", growth <= run.options.check_max_rss_growth_mb
