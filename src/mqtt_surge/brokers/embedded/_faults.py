"""Protocol faults on demand: what a real broker does only by accident (an acknowledgement that
never comes or comes late, a message delivered twice, a redelivery with DUP, a connection
dropped mid-conversation, a refused CONNECT, a retained message gone), done on purpose, so a
test can drive an app's retry and idempotency paths. Each fault, when it acts, is a record in
``broker.packets`` (``direction="fault"``).

:class:`FaultRules` is the broker loop's state; :class:`ProtocolFaults` is ``broker.faults``,
the test's side, which changes the rules on the broker's loop.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ...mqtt import topics
from ...runtime.errors import ConfigError

# an MQTT 5 CONNACK reason -> the MQTT 3.1.1 return code that says the same (else 3, "server
# unavailable", 3.1.1's catch-all)
CONNACK_3_1_1 = {0x84: 1, 0x85: 2, 0x86: 4, 0x87: 5, 0x88: 3, 0x89: 3, 0x8C: 4}


@dataclasses.dataclass
class Rule:
    """Acts on messages whose topic matches ``filter``: ``count`` more times (None: until
    cleared)."""

    kind: str  # "withhold_acks", "delay_acks", "deliver_twice", "redeliver_with_dup"
    filter: str
    count: int | None = None
    delay: float = 0.0

    def take(self, topic: str) -> bool:
        if self.count == 0 or not topics.matches(self.filter, topic):
            return False
        if self.count is not None:
            self.count -= 1
        return True


class FaultRules:
    """The faults in force, read by the broker on its loop."""

    def __init__(self) -> None:
        self.rules: list[Rule] = []
        self.disconnects: dict[str, int] = {}  # client id -> packets it may still send
        self.refuse_connect: int | None = None

    def take(self, kind: str, topic: str) -> Rule | None:
        """The first rule of ``kind`` that acts on ``topic`` now (its count spent), else None."""
        if not self.rules:  # the common case: no fault, one check
            return None
        for rule in self.rules:
            if rule.kind == kind and rule.take(topic):
                return rule
        return None

    def clear(self) -> None:
        self.rules.clear()
        self.disconnects.clear()
        self.refuse_connect = None


def _count(count: int | None) -> int | None:
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ConfigError(f"count must be an int >= 1, or None for every match, got {count!r}")
    return count


def _filter(topic_filter: str) -> str:
    problem = topics.filter_problem(topic_filter) if isinstance(topic_filter, str) else "not a str"
    if problem is not None:
        raise ConfigError(f"topic filter {topic_filter!r}: {problem}")
    return topic_filter


class ProtocolFaults:
    """``broker.faults``: each call changes the broker's behaviour from now on, until
    :meth:`clear` (or the rule's count is spent). Each returns once the broker has it."""

    def __init__(self, run: Callable[[Callable[[Any], Any]], Any]) -> None:
        self._run = run  # calls a function with the broker's core, on the broker's loop

    def _add(self, rule: Rule) -> None:
        self._run(lambda core: core.faults.rules.append(rule))

    def withhold_acks(self, topic_filter: str, count: int | None = None) -> None:
        """No PUBACK (QoS 1) or PUBREC (QoS 2) for a client's PUBLISH on a matching topic: the
        message is still routed, but the sender hears nothing and must resend or time out."""
        self._add(Rule("withhold_acks", _filter(topic_filter), _count(count)))

    def delay_acks(self, topic_filter: str, seconds: float, count: int | None = None) -> None:
        """The PUBACK or PUBREC of a matching PUBLISH goes ``seconds`` late (real time)."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise ConfigError(f"seconds must be a number >= 0, got {seconds!r}")
        self._add(Rule("delay_acks", _filter(topic_filter), _count(count), float(seconds)))

    def deliver_twice(self, topic_filter: str, count: int | None = 1) -> None:
        """The next ``count`` matching messages reach each subscriber twice, as two PUBLISH
        packets (at QoS 1 "at least once" allows it; an app must not do the work twice)."""
        self._add(Rule("deliver_twice", _filter(topic_filter), _count(count)))

    def redeliver_with_dup(self, topic_filter: str, count: int | None = None) -> None:
        """A matching QoS 1/2 PUBLISH to a subscriber is sent, then sent again at once with DUP
        set and the same packet id, as after a lost connection (MQTT 5 resends only on a new
        connection: this is the fault a client must survive all the same)."""
        self._add(Rule("redeliver_with_dup", _filter(topic_filter), _count(count)))

    def disconnect(self, client_id: str, after_packets: int = 0) -> None:
        """Drop the client's connection (no DISCONNECT: a lost link, its will published) at once,
        or once it has sent ``after_packets`` more packets."""
        if (
            isinstance(after_packets, bool)
            or not isinstance(after_packets, int)
            or after_packets < 0
        ):
            raise ConfigError(f"after_packets must be an int >= 0, got {after_packets!r}")
        self._run(lambda core: core.disconnect_after(client_id, after_packets))

    def refuse_next_connect(self, reason_code: int = 0x87) -> None:
        """The next CONNECT gets a CONNACK with this MQTT 5 reason (0x80 or more; a 3.1.1
        client gets the return code that says the same), then the connection closes."""
        if (
            isinstance(reason_code, bool)
            or not isinstance(reason_code, int)
            or not 0x80 <= reason_code <= 0xFF
        ):
            raise ConfigError(
                f"reason_code must be an MQTT 5 CONNACK reason 0x80-0xFF, got {reason_code!r}"
            )
        self._run(lambda core: setattr(core.faults, "refuse_connect", reason_code))

    def drop_retained(self, topic: str) -> None:
        """The retained message of ``topic`` is gone, as if a broker lost it."""
        problem = topics.topic_problem(topic)
        if problem is not None:
            raise ConfigError(f"topic {topic!r}: {problem}")
        self._run(lambda core: core.drop_retained(topic))

    def clear(self) -> None:
        """Every fault off."""
        self._run(lambda core: core.faults.clear())
