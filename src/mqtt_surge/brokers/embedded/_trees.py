"""Subscriptions and retained messages in topic trees, one node per topic level.

A PUBLISH visits only the branches its topic can match (its own levels, ``+`` and ``#``), so its
cost does not grow with subscriptions that cannot match, offline sessions' included; a
SUBSCRIBE visits only the retained topics its filter can match. Empty branches are pruned as
soon as their last subscription or retained message goes, so nothing a client named stays.
Both walk with a stack, not recursion: a topic may have as many levels as the broker allows.
"""

from __future__ import annotations

from collections.abc import Iterator

from ...mqtt import topics
from ._state import Message, Subscription


class _Node:
    __slots__ = ("children", "message", "shared", "subs", "turns")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.subs: dict[str, Subscription] = {}  # client id -> its subscription to this filter
        self.shared: dict[str, dict[str, Subscription]] = {}  # group -> client id -> subscription
        self.message: Message | None = None  # the retained message of this topic
        self.turns: dict[str, int] = {}  # group -> whose turn it is in that shared group

    def empty(self) -> bool:
        return not (self.children or self.subs or self.shared or self.message)


def size(root: _Node) -> int:
    """Nodes below ``root``, and the shared-group turns they keep: what clients' names cost."""
    count, stack = 0, list(root.children.values())
    while stack:
        node = stack.pop()
        count += 1 + len(node.turns)
        stack.extend(node.children.values())
    return count


def _path(root: _Node, levels: list[str], create: bool) -> list[_Node] | None:
    """The nodes from the root down to ``levels`` (made if ``create``), or None if absent."""
    path = [root]
    node = root
    for level in levels:
        child = node.children.get(level)
        if child is None:
            if not create:
                return None
            child = node.children[level] = _Node()
        path.append(child)
        node = child
    return path


def _prune(path: list[_Node], levels: list[str]) -> None:
    for depth in range(len(levels), 0, -1):
        if not path[depth].empty():
            return
        del path[depth - 1].children[levels[depth - 1]]


class Subscriptions:
    """Every session's subscriptions, by filter."""

    def __init__(self) -> None:
        self._root = _Node()
        self.count = 0
        self.version = 0  # changes with every add and remove: what was matched before is stale

    def size(self) -> int:
        return size(self._root)

    def add(self, client_id: str, sub: Subscription) -> None:
        self.version += 1
        path = _path(self._root, sub.parts, create=True)
        assert path is not None
        node = path[-1]
        members = node.subs if sub.group is None else node.shared.setdefault(sub.group, {})
        if client_id not in members:
            self.count += 1
        members[client_id] = sub

    def remove(self, client_id: str, sub: Subscription) -> None:
        self.version += 1
        path = _path(self._root, sub.parts, create=False)
        if path is None:
            return
        node = path[-1]
        members = node.subs if sub.group is None else node.shared.get(sub.group, {})
        if members.pop(client_id, None) is not None:
            self.count -= 1
        if sub.group is not None and not members:
            node.shared.pop(sub.group, None)
            node.turns.pop(sub.group, None)
        _prune(path, sub.parts)

    def any_match(self, topic: str, levels: list[str]) -> bool:
        """Whether any subscription matches ``topic``."""
        return any(node.subs or node.shared for node in self.matching(topic, levels))

    def matching(self, topic: str, levels: list[str]) -> list[_Node]:
        """The nodes whose filter matches ``topic``. '#' and '+' at the first level never match
        a '$' topic [MQTT-4.7.2-1]; 'a/#' matches 'a' [MQTT-4.7.1-2]."""
        dollar = topic.startswith("$")
        n = len(levels)
        found: list[_Node] = []
        stack = [(self._root, 0)]
        while stack:
            node, i = stack.pop()
            children = node.children
            if i == n:
                found.append(node)
                if (parent := children.get("#")) is not None and (i or not dollar):
                    found.append(parent)
                continue
            if i or not dollar:
                if (rest := children.get("#")) is not None:
                    found.append(rest)
                if (one := children.get("+")) is not None:
                    stack.append((one, i + 1))
            if (exact := children.get(levels[i])) is not None:
                stack.append((exact, i + 1))
        return found


class Retained:
    """The retained message of each topic."""

    def __init__(self) -> None:
        self._root = _Node()
        self.count = 0

    def size(self) -> int:
        return size(self._root)

    def set(self, message: Message) -> None:
        """Keep, replace or (empty payload [MQTT-3.3.1-10]) clear a topic's retained message."""
        levels = topics.levels(message.topic)
        if message.payload:
            path = _path(self._root, levels, create=True)
            assert path is not None
            if path[-1].message is None:
                self.count += 1
            path[-1].message = message
            return
        path = _path(self._root, levels, create=False)
        if path is None or path[-1].message is None:
            return
        path[-1].message = None
        self.count -= 1
        _prune(path, levels)

    def matching(self, levels: list[str]) -> Iterator[Message]:
        """The retained messages a filter (split into levels) matches, lazily: a caller can
        take them a slice at a time."""
        stack = [(self._root, 0)]
        while stack:
            node, i = stack.pop()
            if i == len(levels):
                if node.message is not None:
                    yield node.message
                continue
            level = levels[i]
            if level == "#":
                yield from _subtree(node, skip_dollar=i == 0, include_self=i > 0)
            elif level == "+":
                stack += [
                    (child, i + 1)
                    for name, child in node.children.items()
                    if not (i == 0 and name.startswith("$"))
                ]
            elif (exact := node.children.get(level)) is not None:
                stack.append((exact, i + 1))


def _subtree(node: _Node, *, skip_dollar: bool, include_self: bool) -> Iterator[Message]:
    """Every retained message at and below ``node`` ('a/#' matches 'a' too)."""
    if include_self and node.message is not None:
        yield node.message
    stack = [
        child for name, child in node.children.items() if not (skip_dollar and name.startswith("$"))
    ]
    while stack:
        current = stack.pop()
        if current.message is not None:
            yield current.message
        stack.extend(current.children.values())
