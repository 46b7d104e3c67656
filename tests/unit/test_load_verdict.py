"""The load suite's accounting of what arrived against what the publishers counted as sent."""

from __future__ import annotations

from mqtt_surge.loadtest.run import RunData


def _run(sent: int, highest: int, missing: int = 0) -> RunData:
    seen = {"count": highest + 1 - missing, "highest": highest, "missing": missing}
    return RunData(options=None, sent={7: sent}, final={"publishers": {"7": seen}})


def test_messages_whose_puback_never_came_back_are_neither_lost_nor_duplicates() -> None:
    run = _run(sent=5900, highest=5903)  # 5,904 arrived, 5,900 acknowledged
    assert run.lost() == 0
    assert run.arrived_unacknowledged() == 4


def test_a_run_that_ended_on_an_acknowledgement_has_none_unacknowledged() -> None:
    run = _run(sent=5900, highest=5899)
    assert run.arrived_unacknowledged() == 0


def test_a_loss_is_not_counted_as_unacknowledged() -> None:
    run = _run(sent=5900, highest=5897)  # the last two acknowledged never arrived
    assert run.lost() == 2
    assert run.arrived_unacknowledged() == 0
