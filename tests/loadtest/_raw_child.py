"""Run the load suite's raw client as Locust runs it (gevent-patched, in a process of its own)
and print what it reported as JSON. Used by test_raw_client.py.

    python _raw_child.py URL LEVEL QOS COUNT SIZE TOPIC [CARRIER]
"""

from gevent import monkey

monkey.patch_all()

import itertools  # noqa: E402 - after the patch, as in a Locust process
import json  # noqa: E402
import sys  # noqa: E402

from mqtt_surge.loadtest.raw import RawConnection  # noqa: E402
from mqtt_surge.loadtest.run import SENT  # noqa: E402
from mqtt_surge.mqtt.codec import USER_PROPERTY  # noqa: E402
from mqtt_surge.runtime.url import parse_broker  # noqa: E402
from mqtt_surge.runtime.wire import open_session  # noqa: E402
from mqtt_surge.testing.sequence import sequence_text  # noqa: E402


def main() -> None:
    url, level, qos, count, size, topic = sys.argv[1:7]
    carrier = sys.argv[7] if len(sys.argv) > 7 else "header"
    sock = open_session(
        parse_broker(url),
        timeout=10,
        client_id="raw-" + topic.rsplit("/", 1)[-1][:12],
        keepalive=0,
        level=int(level),
    )
    connection = RawConnection(sock, v5=level == "5")
    message = None
    if carrier == "properties":

        def message(sequence: int, n: int) -> tuple[bytes, dict]:
            text = sequence_text(7, sequence)
            return b"{}", {USER_PROPERTY: [("mqtt-surge-seq", text)]}

    published, error = connection.publish(
        topic, int(qos), 7, itertools.count(), int(count), int(size), 10.0, message
    )
    connection.close()
    print(
        json.dumps(
            {
                "published": published,
                "error": repr(error) if error else None,
                "sent": SENT.snapshot().get(7, 0),
            }
        )
    )


if __name__ == "__main__":
    main()
