"""Locust integration: MQTT publishers that measure the receiving side too.

Importing this package imports locust, which monkey-patches the whole process with gevent; that
is why ``import mqtt_surge`` never imports it, and why the subscriber under test (the probe) and
a local broker run in processes of their own.

In a locustfile::

    from mqtt_surge.loadtest import MqttPublisherUser, check

It adds the ``--mqtt-*``, ``--probe-*`` and ``--check-*`` options, starts the broker and the
probe, turns what the probe receives into ``MQTT-RECV`` events, and judges the ``@check``
functions when Locust quits (exit code 1 when one fails).
"""

from . import plugin as _plugin  # noqa: F401 - registers the listeners and options
from .checks import check, verdict
from .fleet import MqttFleetUser
from .run import SHORT_RUN, RunData
from .user import MqttFastPublisherUser, MqttPublisherUser

__all__ = [
    "SHORT_RUN",
    "MqttFastPublisherUser",
    "MqttFleetUser",
    "MqttPublisherUser",
    "RunData",
    "check",
    "verdict",
]
