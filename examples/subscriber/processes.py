"""More than one core: two child processes share the subscription ($share/ingest/...)."""

from mqtt_surge import EmbeddedBroker, Subscriber


def handle(message):  # module level: each child process imports it by name
    pass


if __name__ == "__main__":
    with EmbeddedBroker() as broker:  # in production: "mqtt://broker:1883"
        sub = Subscriber(broker.url, "sensors/#", handle, processes=2, shared_group="ingest")
        sub.start()
        assert len(sub.pids) == 2
        sub.stop()
