"""A month's SLA lines, from per-minute verdicts or straight from collected checks (§5-§8).

`month_line` is the one place a line's figures are decided; the file path (`build_report`)
and the database path (minute rollups) both end in it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from decimal import Decimal
from itertools import groupby

from sla.budget import budget_minutes
from sla.catalog import tier_of
from sla.collect import MonthCollector, SeriesKey
from sla.credits import credit_pct
from sla.maintenance import maintenance_minutes
from sla.model import Check, MaintenanceWindow, MinuteCounts, MinuteVerdict, Plan, SlaLine
from sla.period import Period
from sla.quorum import minute_verdicts
from sla.uptime import count_minutes, coverage_pct, rounded_pct, target_met, uptime_pct
from sla.verdicts import location_minute_states


@dataclass(frozen=True, slots=True)
class SlaReport:
    """What `sla compute` prints: one line per component-region, sorted by both."""

    month: str
    plan: str
    confirmations: int
    period_minutes: int
    lines: tuple[SlaLine, ...]


def line_from_counts(component: str, region: str, tier: int, counts: MinuteCounts,
                     target_pct: Decimal) -> SlaLine:
    """A line's figures from its minutes: also how a longer period's summed minutes report."""
    uptime = uptime_pct(counts)
    met = target_met(uptime, target_pct)
    budget = budget_minutes(counts.eligible, target_pct)
    return SlaLine(
        component=component, region=region, tier=tier, period_minutes=counts.period,
        maintenance_minutes=counts.maintenance, downtime_minutes=counts.downtime,
        no_data_minutes=counts.no_data, eligible_minutes=counts.eligible,
        uptime_pct=rounded_pct(uptime), target_pct=target_pct, met=met,
        credit_pct=credit_pct(uptime, met), budget_minutes=budget,
        budget_remaining_minutes=budget - counts.downtime,
        coverage_pct=rounded_pct(coverage_pct(counts)),
        single_location_minutes=counts.single_location,
    )


def month_line(component: str, region: str, period: Period,
               verdict_by_minute: Mapping[int, MinuteVerdict], maintenance: Set[int],
               plan: Plan, *, locations_by_minute: Mapping[int, int] | None = None,
               tier: int | None = None) -> SlaLine:
    """One component-region's line for `period` from its minute verdicts (epoch minutes).

    Minutes missing from `verdict_by_minute` are `no_data`; `maintenance` holds the
    minutes planned servicing excludes (see `sla.maintenance.maintenance_minutes`).
    """
    tier = tier_of(component) if tier is None else tier
    counts = count_minutes(period, verdict_by_minute, maintenance, basis=plan.period_basis,
                           locations_by_minute=locations_by_minute)
    return line_from_counts(component, region, tier, counts, plan.target_for(tier))


def sum_minutes(lines: Iterable[SlaLine]) -> MinuteCounts:
    """Several periods' minutes added up, to divide once: never an average of percentages."""
    total = MinuteCounts(period=0, maintenance=0, downtime=0, no_data=0, single_location=0)
    for line in lines:
        total = total + line.minute_counts()
    return total


def _pair(item: tuple[SeriesKey, list[int]]) -> tuple[str, str]:
    return item[0][0], item[0][1]


def build_report(collector: MonthCollector, plan: Plan,
                 windows: Sequence[MaintenanceWindow]) -> SlaReport:
    """Every line of the collected month: confirm per location, quorum, maintenance, totals."""
    period, confirmations = collector.period, collector.confirmations
    lines = []
    for (component, region), series in groupby(collector.series(), key=_pair):
        states = [location_minute_states(codes, confirmations, period) for _, codes in series]
        verdicts = minute_verdicts(states, period)
        held = maintenance_minutes(windows, component, region, period)
        lines.append(month_line(component, region, period, verdicts.verdict_by_minute, held,
                                plan, locations_by_minute=verdicts.locations_by_minute))
    return SlaReport(month=period.label, plan=plan.name, confirmations=confirmations,
                     period_minutes=period.basis_minutes(plan.period_basis), lines=tuple(lines))


def report_from_checks(checks: Iterable[Check], period: Period, plan: Plan,
                       windows: Sequence[MaintenanceWindow] = (),
                       confirmations: int = 2) -> SlaReport:
    """`build_report` for checks already in memory (small inputs, tests)."""
    collector = MonthCollector(period, confirmations)
    collector.add_checks(checks)
    return build_report(collector, plan, windows)
