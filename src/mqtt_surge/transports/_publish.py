"""The head of a PUBLISH packet (MQTT 3.1.1 and 5, section 3.3.2), read the same by both engines.

Both client libraries build and log an object per message on the way to their message callback
(paho: an MQTTMessage with its MQTTMessageInfo; gmqtt: struct formats made per packet, and a
coroutine-or-not check of the callback), which costs more than the whole buffer and worker
hand-off behind it. So each engine reads its PUBLISH packets of QoS 0 and 1 itself, the
properties with its library's own parser, and leaves everything else (QoS 2, a malformed packet,
a topic that is not UTF-8, a topic alias) to the library as before.
"""

from __future__ import annotations


def read_head(cmd: int, raw: bytes | bytearray) -> tuple[str, int, bool, int, int] | None:
    """``(topic, qos, retain, packet id, where the rest starts)`` of a PUBLISH whose fixed
    header's first byte is ``cmd`` and whose remaining bytes are ``raw``. The rest is the
    properties and then the payload under MQTT 5, the payload under 3.1.1. None when the
    library should read it: QoS 2, an empty topic (MQTT 5: an alias), a topic that is not
    UTF-8, or a packet too short for its own lengths."""
    qos = (cmd >> 1) & 3
    if qos == 2 or len(raw) < 2:  # the topic length takes two bytes
        return None
    end = 2 + ((raw[0] << 8) | raw[1])
    start = end + 2 if qos else end  # the packet id's two bytes
    if end == 2 or start > len(raw):  # an empty topic
        return None
    try:
        topic = raw[2:end].decode()
    except UnicodeDecodeError:
        return None
    mid = (raw[end] << 8) | raw[end + 1] if qos else 0
    return topic, qos, cmd & 1 == 1, mid, start
