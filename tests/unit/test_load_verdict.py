"""The load suite's accounting of what arrived against what the publishers counted as sent
(the function its verdict uses; the suite itself imports locust, which this process must not)."""

from __future__ import annotations

from mqtt_surge.testing.sequence import against_sent


def _summary(highest: int, missing: int = 0) -> dict[str, dict[str, int]]:
    return {"7": {"processed": highest + 1 - missing, "highest": highest, "missing": missing}}


def test_messages_whose_puback_never_came_back_are_neither_lost_nor_duplicates() -> None:
    # 5,904 arrived, 5,900 acknowledged
    assert against_sent({7: 5900}, _summary(highest=5903)) == (0, 4)


def test_a_run_that_ended_on_an_acknowledgement_has_none_unacknowledged() -> None:
    assert against_sent({7: 5900}, _summary(highest=5899)) == (0, 0)


def test_a_loss_is_not_counted_as_unacknowledged() -> None:
    # the last two acknowledged never arrived, and one in the middle
    assert against_sent({7: 5900}, _summary(highest=5897, missing=1)) == (3, 0)


def test_a_publisher_never_heard_from_lost_everything() -> None:
    assert against_sent({7: 10, 8: 5}, _summary(highest=9)) == (5, 0)
