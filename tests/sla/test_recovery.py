from __future__ import annotations

from datetime import timedelta

from sla.catalog import PREMIUM, STANDARD
from sla.model import RecoveryObjective
from sla.recovery import ObjectiveStatus, judge_objective, judge_recovery
from tests.sla.builders import at

OPENED = at(0)


def test_the_objectives_follow_the_spec_table() -> None:
    assert STANDARD.recovery_for(1) == RecoveryObjective(60, 60, 120)
    assert PREMIUM.recovery_for(1) == RecoveryObjective(20, 60, 120)
    assert STANDARD.recovery_for(2) == RecoveryObjective(180, 240, 120)
    assert PREMIUM.recovery_for(2) == RecoveryObjective(90, 240, 120)
    assert STANDARD.recovery_for(7) == STANDARD.recovery_for(1)


def test_it_meets_an_objective_done_in_time() -> None:
    judged = judge_recovery(STANDARD.recovery_for(1), opened_at=OPENED,
                            acknowledged_at=at(60), resolved_at=at(45), now=at(90))
    assert (judged.acknowledge, judged.resolve) == (ObjectiveStatus.MET, ObjectiveStatus.MET)
    assert judged.time_to_acknowledge == timedelta(minutes=60)
    assert judged.time_to_resolve == timedelta(minutes=45)


def test_it_misses_an_objective_done_late() -> None:
    judged = judge_recovery(PREMIUM.recovery_for(1), opened_at=OPENED,
                            acknowledged_at=at(21), resolved_at=None, now=at(30))
    assert (judged.acknowledge, judged.resolve) == (ObjectiveStatus.MISSED,
                                                    ObjectiveStatus.PENDING)
    assert judged.time_to_resolve is None


def test_an_open_objective_is_missed_once_its_deadline_passes() -> None:
    target = timedelta(minutes=20)
    assert judge_objective(OPENED, None, target, at(20)) is ObjectiveStatus.PENDING
    assert judge_objective(OPENED, None, target, at(20, 1)) is ObjectiveStatus.MISSED
