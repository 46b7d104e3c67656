"""Helpers for tests that need real MQTT traffic; usable with or without pytest.

- :class:`Recorder`: a callback that records every message and lets a test wait for them
  (``recorder``; :class:`RecordingSubscriber` is a subscriber with one built in).
- :class:`Publisher`: one paho connection; ``publish`` returns once the publish is complete
  (PUBACK for QoS 1/2, written to the socket for QoS 0); ``burst`` sends sequence-numbered
  payloads (``publisher``).
- The sequence header (:func:`pack_header`, :func:`unpack_header`) and the checker of what
  arrived (:func:`sequence_report`, :class:`Sequences`) (``sequence``).

Every wait here is on a signal (a condition variable or paho's acknowledgement), with a timeout
whose error says what was expected and what was seen.
"""

from __future__ import annotations

from .capture import Capture
from .publisher import PUBLISH_PROPERTIES, Publisher, publisher_client
from .recorder import AsyncRecorder, Recorder, RecordingSubscriber, recorder_for
from .sequence import (
    HEADER,
    MAGIC,
    Header,
    SequenceReport,
    Sequences,
    new_publisher_id,
    pack_header,
    sequence_report,
    sequenced_payload,
    unpack_header,
)

__all__ = [
    "HEADER",
    "MAGIC",
    "PUBLISH_PROPERTIES",
    "AsyncRecorder",
    "Capture",
    "Header",
    "Publisher",
    "Recorder",
    "RecordingSubscriber",
    "SequenceReport",
    "Sequences",
    "new_publisher_id",
    "pack_header",
    "publisher_client",
    "recorder_for",
    "sequence_report",
    "sequenced_payload",
    "unpack_header",
]
