"""The receive path's PUBLISH reader: the head of a QoS 0 or 1 PUBLISH in one function.

Both client engines read the PUBLISH packets of QoS 0 and 1 themselves, before their library's
own path, which builds and logs an object per message and costs more than the whole hand-off
behind it. This is :func:`.packets.decode_publish` specialised for that path (no cursor object,
no exceptions: None hands the packet back to the library), and the unit tests hold the two to
the same answer on the same bytes.
"""

from __future__ import annotations


def read_head(cmd: int, raw: bytes | bytearray) -> tuple[str, int, bool, int, int] | None:
    """``(topic, qos, retain, packet id, where the rest starts)`` of a PUBLISH whose fixed
    header's first byte is ``cmd`` and whose remaining bytes are ``raw``. The rest is the
    properties and then the payload under MQTT 5, the payload under 3.1.1. None when the
    library should read it: QoS 2 (or 3), an empty topic (MQTT 5: an alias), a topic that is not
    UTF-8, packet identifier 0, or a packet too short for its own lengths."""
    qos = (cmd >> 1) & 3
    if qos > 1 or len(raw) < 2:  # the topic length takes two bytes
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
    if qos and not mid:  # packet identifier 0: malformed, the library's to refuse
        return None
    return topic, qos, cmd & 1 == 1, mid, start
