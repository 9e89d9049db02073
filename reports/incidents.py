"""The incidents a report shows: time to detect, acknowledge and resolve, judged (spec §9).

The tier that decides an incident's objectives is the most important one it touched on the
report's lines (Tier 1 before Tier 2: what is restored first); the plan sets the targets.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from reports.store import IncidentRecord
from sla.catalog import tier_of
from sla.model import Plan, RecoveryObjective
from sla.recovery import RecoveryJudgement, judge_recovery


@dataclass(frozen=True, slots=True)
class IncidentLine:
    """One incident on a report, with its objectives and how it did against them."""

    record: IncidentRecord
    tier: int
    objective: RecoveryObjective
    judgement: RecoveryJudgement

    @property
    def time_to_detect(self) -> timedelta | None:
        """From the first failing check to the incident opening; None when unknown."""
        if self.record.first_failure_at is None:
            return None
        return self.record.opened_at - self.record.first_failure_at


def incident_line(record: IncidentRecord, plan: Plan, now: datetime) -> IncidentLine:
    """Judge one incident against the plan's objectives for its most important tier."""
    tier = min((tier_of(component) for component, _ in record.affected), default=1)
    objective = plan.recovery_for(tier)
    judgement = judge_recovery(objective, opened_at=record.opened_at,
                               acknowledged_at=record.acknowledged_at,
                               resolved_at=record.resolved_at, now=now)
    return IncidentLine(record, tier, objective, judgement)


def incident_lines(records: Iterable[IncidentRecord], plan: Plan, now: datetime,
                   ) -> tuple[IncidentLine, ...]:
    return tuple(incident_line(record, plan, now) for record in records)


def minutes_of(duration: timedelta | None) -> float | None:
    """A duration in minutes (to the second), for JSON and tables; None stays None."""
    return None if duration is None else round(duration.total_seconds() / 60, 2)
