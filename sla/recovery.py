"""Recovery objectives (spec §9): was an incident acknowledged and resolved in time?

Both durations run from when the incident opened. An objective still open is `pending`
until its deadline passes, then `missed`: a late acknowledgement cannot turn it `met`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sla.model import RecoveryObjective


class ObjectiveStatus(StrEnum):
    MET = "met"
    MISSED = "missed"
    PENDING = "pending"


@dataclass(frozen=True, slots=True)
class RecoveryJudgement:
    """How an incident did against its objectives; durations are None while still open."""

    time_to_acknowledge: timedelta | None
    time_to_resolve: timedelta | None
    acknowledge: ObjectiveStatus
    resolve: ObjectiveStatus


def judge_objective(opened_at: datetime, done_at: datetime | None, target: timedelta,
                    now: datetime) -> ObjectiveStatus:
    """One objective: met when done within `target` of opening; missed once that is past."""
    if done_at is not None:
        return ObjectiveStatus.MET if done_at - opened_at <= target else ObjectiveStatus.MISSED
    return ObjectiveStatus.MISSED if now - opened_at > target else ObjectiveStatus.PENDING


def judge_recovery(objective: RecoveryObjective, *, opened_at: datetime,
                   acknowledged_at: datetime | None, resolved_at: datetime | None,
                   now: datetime) -> RecoveryJudgement:
    """Judge an incident's acknowledge and resolve times against its tier's objectives.

    >>> from datetime import UTC
    >>> from sla.catalog import PREMIUM
    >>> t = datetime(2026, 10, 1, tzinfo=UTC)
    >>> judge_recovery(PREMIUM.recovery_for(1), opened_at=t, acknowledged_at=t + timedelta(
    ...     minutes=25), resolved_at=None, now=t + timedelta(minutes=30)).acknowledge
    <ObjectiveStatus.MISSED: 'missed'>
    """
    ack_target = timedelta(minutes=objective.ack_minutes)
    resolve_target = timedelta(minutes=objective.resolve_minutes)
    return RecoveryJudgement(
        time_to_acknowledge=None if acknowledged_at is None else acknowledged_at - opened_at,
        time_to_resolve=None if resolved_at is None else resolved_at - opened_at,
        acknowledge=judge_objective(opened_at, acknowledged_at, ack_target, now),
        resolve=judge_objective(opened_at, resolved_at, resolve_target, now),
    )
