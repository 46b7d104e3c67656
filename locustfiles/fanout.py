"""Fan-out: several subscriber connections on one topic; each must get every message.

    cd locustfiles && locust -f fanout.py                          # 3 subscribers (locust.conf)
    locust -f locustfiles/fanout.py --probe-subscribers 10 --mqtt-broker mosquitto

The probe runs --probe-subscribers subscribers of their own (own client ids, own connections),
each keeping its own sequences per publisher. Checks: every subscriber got every message the
broker acknowledged; none got a duplicate.
"""

from locust import events, task

from mqtt_surge.loadtest import SHORT_RUN, MqttPublisherUser, RunData, check


@events.init_command_line_parser.add_listener
def defaults(parser) -> None:
    # paced: the broker sends each message once per subscriber
    parser.set_defaults(**SHORT_RUN, probe_subscribers=3, mqtt_rate=100)


class QoS1Publisher(MqttPublisherUser):
    qos = 1
    batch = 10

    @task
    def publish_batch(self) -> None:
        self.publish()


def _subscribers(run: RunData) -> int:
    return int(run.options.probe_subscribers)


@check("every subscriber got every message", lambda o: f"{o.probe_subscribers} x 0 lost")
def every_subscriber_got_everything(run: RunData) -> tuple[str, bool]:
    count = _subscribers(run)
    if count < 2:
        return "not a fan-out (--probe-subscribers < 2)", False
    lost = [run.lost(i) for i in range(count)]
    text = f"lost per subscriber {lost} of {run.total_sent:,} acknowledged"
    return text, run.total_sent > 0 and run.final is not None and not any(lost)


@check("no duplicates", "0 per subscriber")
def no_duplicates(run: RunData) -> tuple[str, bool]:
    each = [s["duplicates"] for s in run.last.get("fanout", [])]
    return f"{each}", len(each) == _subscribers(run) and not any(each)
