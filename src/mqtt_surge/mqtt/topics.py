"""Topic names and topic filters (3.1.1 section 4.7, MQTT 5 section 4.7 and 4.8.2): what is
valid, what matches what, and shared subscriptions (``$share/<group>/<filter>``).

The one place these rules live: the subscriber's option checks, its callback routing, the
broker's subscriptions and its routing all call these.
"""

from __future__ import annotations

from typing import NamedTuple

SHARE_PREFIX = "$share/"
MAX_LENGTH = 65535  # bytes of UTF-8, the length field's limit [MQTT-4.7.3-3]


class Shared(NamedTuple):
    """A filter split into its share group (None for an ordinary subscription) and the filter
    that topics are matched against."""

    group: str | None
    filter: str


def split_shared(topic_filter: str) -> Shared:
    """``$share/<group>/<filter>`` -> (group, filter); anything else -> (None, the filter).
    A shared filter whose group is empty or holds a wildcard gets an empty filter, which
    :func:`filter_problem` refuses."""
    if not topic_filter.startswith(SHARE_PREFIX):
        return Shared(None, topic_filter)
    _, group, rest = [*topic_filter.split("/", 2), "", ""][:3]
    if not group or "+" in group or "#" in group:
        return Shared(group, "")
    return Shared(group, rest)


def filter_problem(topic_filter: str, max_levels: int | None = None) -> str | None:
    """What is wrong with a subscription filter, in words, or None if it is valid
    ([MQTT-4.7.1-2], [MQTT-4.7.1-3], [MQTT-4.7.3-1], [MQTT-4.7.3-2], [MQTT-4.8.2-1]); with
    ``max_levels``, also a receiver's own limit on its depth."""
    if max_levels is not None and level_count(topic_filter) > max_levels:
        return f"topic filter deeper than {max_levels} levels"
    if not topic_filter:
        return "topic filter is empty: use e.g. 'sensors/#'"
    if "\x00" in topic_filter:
        return f"topic filter {topic_filter!r} contains a NUL character"
    if len(topic_filter.encode("utf-8", "surrogatepass")) > MAX_LENGTH:
        return "topic filter is longer than 65,535 bytes"
    group, plain = split_shared(topic_filter)
    if group is not None and not plain:
        return f"invalid shared subscription {topic_filter!r}: use '$share/<group>/<filter>'"
    return _wildcard_problem(topic_filter, plain.split("/"))


def _wildcard_problem(topic_filter: str, levels: list[str]) -> str | None:
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            return (
                f"invalid topic filter {topic_filter!r}: '#' must be a whole level and the last "
                "one (e.g. 'a/#')"
            )
        if "+" in level and level != "+":
            return (
                f"invalid topic filter {topic_filter!r}: '+' must be a whole level (e.g. 'a/+/c')"
            )
    return None


def topic_problem(topic: str, max_levels: int | None = None) -> str | None:
    """What is wrong with a topic name (of a PUBLISH or a will), or None if it is valid:
    not empty, no wildcard [MQTT-3.3.2-2], no NUL [MQTT-4.7.3-2]; with ``max_levels``, also a
    receiver's own limit on its depth."""
    if max_levels is not None and level_count(topic) > max_levels:
        return f"topic name deeper than {max_levels} levels"
    if not topic:
        return "topic name is empty"
    if "+" in topic or "#" in topic:
        return f"topic name {topic!r} holds a wildcard [MQTT-3.3.2-2]"
    if "\x00" in topic:
        return f"topic name {topic!r} contains a NUL character"
    return None


def levels(topic: str) -> list[str]:
    return topic.split("/")


def level_count(topic: str) -> int:
    """How many levels a topic name or filter has (without splitting it)."""
    return topic.count("/") + 1


def matches_levels(filter_levels: list[str], topic: str, topic_levels: list[str]) -> bool:
    """Whether a filter, split into levels, matches a topic (also split): the broker's form,
    which splits each once. '#' and '+' at the first level never match a '$' topic
    [MQTT-4.7.2-1]; 'a/#' matches 'a' too [MQTT-4.7.1-2]."""
    if topic.startswith("$") and filter_levels[0] in ("#", "+"):
        return False
    n = len(topic_levels)
    for i, part in enumerate(filter_levels):
        if part == "#":
            return True
        if i >= n:
            return False
        if part != "+" and part != topic_levels[i]:
            return False
    return len(filter_levels) == n


def matches(topic_filter: str, topic: str) -> bool:
    """Whether ``topic`` matches ``topic_filter``; a shared filter matches as its own filter."""
    plain = split_shared(topic_filter).filter
    return bool(plain) and matches_levels(plain.split("/"), topic, topic.split("/"))
