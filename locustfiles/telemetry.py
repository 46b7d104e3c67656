"""Telemetry: your own JSON payloads, with the loss, order and latency checks still on.

    cd locustfiles && locust -f telemetry.py                       # sequence in MQTT 5 properties
    locust -f locustfiles/telemetry.py --mqtt-sequence-in field:seq   # in a JSON field instead
    locust -f locustfiles/telemetry.py --probe-callback examples.app.handlers:on_reading_json

The payload is the template below, byte for byte; the sequence (publisher, number, send time)
travels in an MQTT 5 user property (or, with --mqtt-sequence-in field:NAME, in field NAME of the
JSON, which works on MQTT 3.1.1 brokers too). Checks: every acknowledged message arrived once,
and every message carried its sequence where it was told to.
"""

from locust import events, task

from mqtt_surge.loadtest import SHORT_RUN, MqttPublisherUser, RunData, check


@events.init_command_line_parser.add_listener
def defaults(parser) -> None:
    parser.set_defaults(**SHORT_RUN, mqtt_rate=200)


# --8<-- [start:sensor]  (the docs' load-suite page shows this part)
class Sensor(MqttPublisherUser):
    qos = 1
    batch = 20
    payload = '{"sensor": "$user", "n": $seq, "temp": 21.5, "unit": "C"}'
    sequence_in = "properties"
    # --8<-- [end:sensor]

    @task
    def publish_batch(self) -> None:
        self.publish()


@check("nothing lost", "every acknowledged message arrived, once")
def nothing_lost(run: RunData) -> tuple[str, bool]:
    lost, duplicates = run.lost(), (run.final or {}).get("duplicates", 0)
    text = f"{lost} lost of {run.total_sent:,} acknowledged, {duplicates} duplicates"
    return text, run.total_sent > 0 and run.final is not None and lost == duplicates == 0


@check("every message sequenced", "found where it was told to be")
def every_message_sequenced(run: RunData) -> tuple[str, bool]:
    found = (run.final or {}).get("sequenced_by", {})
    unsequenced = (run.final or {}).get("unsequenced", 0)
    return f"{found}, {unsequenced} without", bool(found) and unsequenced == 0
