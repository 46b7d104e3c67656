"""Per-topic permissions in mosquitto's ``acl_file`` syntax, so that a team can paste its
production ACL and get the same answers from the embedded broker as from mosquitto 2.0.

The syntax, one rule a line (``#`` at the start of a line is a comment)::

    topic [read|write|readwrite|deny] <filter>     for anonymous clients, until a user line
    user <name>                                    the topic lines after it are this user's
    pattern [read|write|readwrite|deny] <filter>   for every client; %c is its client id, %u
                                                   its user name

The answers follow mosquitto 2.0's acl_file plugin: a client's own ``deny`` rules first, then
its other rules in order, then the patterns (their ``deny`` rules first); the first rule that
matches the topic decides, and no rule matching means denied. A pattern never grants a client
whose user name or client id holds ``+`` or ``#``. SUBSCRIBE is not checked against the file
(mosquitto 2.0 grants every filter and checks each message against ``read`` on its way out);
PUBLISH is checked against ``write``.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Literal

from ..mqtt import topics
from ..runtime.errors import ConfigError

Access = Literal["read", "write"]
_ACCESS: dict[str, frozenset[str]] = {
    "read": frozenset({"read"}),
    "write": frozenset({"write"}),
    "readwrite": frozenset({"read", "write"}),
    "deny": frozenset(),
}
_SUBSTITUTION = re.compile("%[cu]")


@dataclasses.dataclass(frozen=True)
class Rule:
    filter: str
    access: frozenset[str]  # empty: deny

    @property
    def deny(self) -> bool:
        return not self.access


def _ordered(rules: list[Rule]) -> tuple[Rule, ...]:
    # mosquitto puts each deny rule at the front as it reads it: the last deny read comes first
    denies = [r for r in rules if r.deny]
    return (*reversed(denies), *(r for r in rules if not r.deny))


@dataclasses.dataclass(frozen=True)
class Acl:
    """A parsed ACL: :meth:`parse` it, then ask :meth:`allows`. ``text`` is kept as given (the
    mosquitto engine writes it to its ``acl_file`` unchanged)."""

    text: str
    users: dict[str | None, tuple[Rule, ...]]  # None: the anonymous clients' rules
    patterns: tuple[Rule, ...]

    @classmethod
    def parse(cls, text: str) -> Acl:
        """Read ``text``; a line that mosquitto would refuse is a :class:`ConfigError` naming
        its number and what is wrong with it."""
        if not isinstance(text, str):
            raise ConfigError(f"acl must be the text of an ACL file, got {text!r}")
        users: dict[str | None, list[Rule]] = {}
        patterns: list[Rule] = []
        user: str | None = None
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.rstrip()
            if line.startswith("#"):
                continue
            keyword, _, rest = line.lstrip(" ").partition(" ")
            rest = rest.strip(" ")
            if not keyword:
                continue
            if keyword == "user":
                if not rest:
                    raise ConfigError(f"acl line {number} {raw!r}: 'user' needs a user name")
                user = rest
                users.setdefault(user, [])
            elif keyword in ("topic", "pattern"):
                rule = cls._rule(number, raw, keyword, rest)
                if keyword == "topic":
                    users.setdefault(user, []).append(rule)
                else:
                    patterns.append(rule)
            else:
                raise ConfigError(
                    f"acl line {number} {raw!r}: expected 'user', 'topic' or 'pattern', "
                    f"got {keyword!r}"
                )
        return cls(text, {u: _ordered(r) for u, r in users.items()}, _ordered(patterns))

    @staticmethod
    def _rule(number: int, raw: str, keyword: str, rest: str) -> Rule:
        access_word, _, topic_filter = rest.partition(" ")
        topic_filter = topic_filter.strip(" ")
        if not topic_filter:
            # one word: the filter, with read and write access
            access_word, topic_filter = "readwrite", access_word
        if not topic_filter:
            raise ConfigError(f"acl line {number} {raw!r}: {keyword!r} needs a topic filter")
        if access_word not in _ACCESS:
            raise ConfigError(
                f"acl line {number} {raw!r}: access {access_word!r} is not one of "
                "read, write, readwrite, deny"
            )
        problem = topics.filter_problem(topic_filter)
        if problem is not None:
            raise ConfigError(f"acl line {number} {raw!r}: {problem}")
        return Rule(topic_filter, _ACCESS[access_word])

    def allows(  # noqa: PLR0911 - mosquitto's order of rules, each a way out
        self, username: str | None, client_id: str, topic: str, access: Access
    ) -> bool:
        """Whether a client with this user name (None: anonymous) and client id may ``read``
        (receive) or ``write`` (publish) a message on ``topic``."""
        parts = topics.levels(topic)
        for rule in self.users.get(username, ()):
            if topics.matches_levels(topics.levels(rule.filter), topic, parts):
                if rule.deny:
                    return False
                if access in rule.access:
                    return True
        if not self.patterns:
            return False
        if any(c in (username or "") + client_id for c in "+#"):
            return False  # a name made to widen a pattern gets nothing from the patterns
        for rule in self.patterns:
            if "%u" in rule.filter and username is None:
                continue
            # one pass, as mosquitto's: a client id holding "%u" is not substituted again
            local = _SUBSTITUTION.sub(
                lambda m: client_id if m.group() == "%c" else str(username), rule.filter
            )
            if topics.matches_levels(topics.levels(local), topic, parts):
                if rule.deny:
                    return False
                if access in rule.access:
                    return True
        return False
