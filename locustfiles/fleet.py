"""Fleet: many devices, each with an MQTT connection of its own, publishing now and then.

    cd locustfiles && locust -f fleet.py                           # 2 users x 100 devices
    locust -f locustfiles/fleet.py --users 100 --spawn-rate 10 --mqtt-fleet-devices 100 \
        --mqtt-broker mosquitto --run-time 60s                     # 10,000 devices at 1 msg/s

Checks: every device connected and published; every message sent (written at QoS 0,
acknowledged at QoS 1) arrived; the probe heard from every device.
"""

from locust import events

from mqtt_surge.loadtest import SHORT_RUN, MqttFleetUser, RunData, check


@events.init_command_line_parser.add_listener
def defaults(parser) -> None:
    parser.set_defaults(**SHORT_RUN)


class Sensors(MqttFleetUser):
    devices = 100  # per Locust user; --mqtt-fleet-devices overrides
    device_rate = 1.0  # msg/s per device; --mqtt-device-rate overrides


def _expected(run: RunData) -> int:
    options = run.options
    return int(options.num_users) * (int(options.mqtt_fleet_devices or 0) or Sensors.devices)


@check("every device published", lambda o: "devices that sent == users x devices")
def every_device_published(run: RunData) -> tuple[str, bool]:
    expected = _expected(run)
    return f"{len(run.sent):,} of {expected:,}", len(run.sent) == expected


@check("nothing lost", "every message sent arrived")
def nothing_lost(run: RunData) -> tuple[str, bool]:
    lost = run.lost()
    text = f"{lost} lost of {run.total_sent:,} sent; received {run.stats.get('received'):,}"
    return text, run.total_sent > 0 and run.final is not None and lost == 0


@check("every device heard", "publishers seen by the probe == devices that sent")
def every_device_heard(run: RunData) -> tuple[str, bool]:
    heard = len((run.final or {}).get("publishers", {}))
    return f"{heard:,} of {len(run.sent):,}", heard == len(run.sent) > 0
