"""A customer's monthly SLA report from the minute rollups (spec §5-§10).

One line per (component, region) for every region the customer has a project in: the
commerce catalogue's services, plus any other component with rollups there that month.
Lines use the customer's plan and period basis; the incidents that touched them are judged
against the plan's recovery objectives; credits are priced from the monthly fee.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy.orm import Session

from commerce.catalog import SERVICES
from core.errors import BellwetherError
from reports import store
from reports.counts import day_slices, month_counts, total_counts
from reports.incidents import IncidentLine, incident_lines
from reports.models import Customer
from reports.series import series_counts
from sla.catalog import plan_named, tier_of
from sla.model import MaintenanceWindow, MinuteCounts, PeriodBasis, Plan, SlaLine
from sla.period import Period, month_period
from sla.report import line_from_counts
from sla.uptime import coverage_pct, rounded_pct, uptime_pct

Pair = tuple[str, str]


@dataclass(frozen=True, slots=True)
class CustomerInfo:
    """What a report needs of a customer, detached from the database row."""

    id: int
    name: str
    plan: str
    period_basis: PeriodBasis
    account_manager_id: int | None
    monthly_fee_cents: int | None
    projects: tuple[tuple[str, str], ...]  # (project key, region)

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(sorted({region for _, region in self.projects}))

    @classmethod
    def of(cls, row: Customer) -> CustomerInfo:
        return cls(row.id, row.name, row.plan, PeriodBasis(row.period_basis),
                   row.account_manager_id, row.monthly_fee_cents,
                   tuple((p.project_key, p.region) for p in row.projects))


def customer_plan(customer: CustomerInfo) -> Plan:
    """The catalogue plan of the customer, on the customer's period basis."""
    return replace(plan_named(customer.plan), period_basis=customer.period_basis)


@dataclass(frozen=True, slots=True)
class ReportLine:
    """A line with its days (calendar days of the month) and its credit in cents."""

    line: SlaLine
    days: tuple[MinuteCounts, ...]
    credit_cents: int | None


@dataclass(frozen=True, slots=True)
class CustomerReport:
    """Everything the page, the API and the exports show for one customer and month."""

    customer: CustomerInfo
    plan: Plan
    period: Period
    day_labels: tuple[str, ...]
    lines: tuple[ReportLine, ...]
    incidents: tuple[IncidentLine, ...]
    generated_at: datetime

    @property
    def month(self) -> str:
        return self.period.label

    @property
    def complete(self) -> bool:
        """False while the month runs: its later minutes still count as no data."""
        return self.generated_at >= self.period.end

    def day_started(self, index: int) -> bool:
        """Whether the month's day `index` (from 0) had begun when the report was made."""
        return self.period.start + timedelta(days=index) < self.generated_at

    @property
    def totals(self) -> MinuteCounts:
        """Every line's minutes added up (never an average of percentages)."""
        return total_counts(item.line.minute_counts() for item in self.lines)

    @property
    def uptime_pct(self) -> Decimal:
        return rounded_pct(uptime_pct(self.totals))

    @property
    def coverage_pct(self) -> Decimal:
        return rounded_pct(coverage_pct(self.totals))

    @property
    def credit_cents(self) -> int | None:
        if self.customer.monthly_fee_cents is None:
            return None
        return sum(item.credit_cents or 0 for item in self.lines)


def month_series(session: Session, pairs: Sequence[Pair], period: Period, plan: Plan,
                 windows: Sequence[MaintenanceWindow]) -> list[tuple[SlaLine, list[MinuteCounts]]]:
    """Each pair's month line and its days, from the rollups (the fast path)."""
    slices = day_slices(period.first_minute, period.end_minute)
    result = []
    for component, region in pairs:
        days = series_counts(session, component, region, slices, windows)
        tier = tier_of(component)
        counts = month_counts(period, plan.period_basis, days)
        result.append((line_from_counts(component, region, tier, counts,
                                        plan.target_for(tier)), days))
    return result


def month_lines(session: Session, pairs: Sequence[Pair], period: Period, plan: Plan,
                windows: Sequence[MaintenanceWindow] | None = None) -> list[SlaLine]:
    """The month's SLA line of each pair, from the rollups."""
    if windows is None:
        windows = store.maintenance_windows(session, period.start, period.end)
    return [line for line, _ in month_series(session, pairs, period, plan, windows)]


def report_pairs(session: Session, regions: Sequence[str], period: Period) -> list[Pair]:
    """The catalogue's services in each region, plus other components with rollups there."""
    others = [c for c in store.rollup_components(session) if c not in SERVICES]
    pairs = [(component, region) for region in regions for component in SERVICES]
    pairs += [(component, region) for region in regions for component in others
              if store.has_rollups(session, component, region, period.first_minute,
                                   period.end_minute)]
    return sorted(pairs)


def line_credit_cents(fee_cents: int | None, lines: int, credit_pct: int) -> int | None:
    """The line's share of the monthly fee (split evenly over the lines) × its credit."""
    if fee_cents is None or lines == 0:
        return None
    share = Decimal(fee_cents) / lines * credit_pct / 100
    return int(share.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def customer_report(session: Session, customer: CustomerInfo, month: str,
                    now: datetime) -> CustomerReport:
    """The customer's report for `month` (YYYY-MM), as of `now`."""
    period = month_period(month)
    if period.start > now:
        raise BellwetherError(f"month {month} has not started yet", code="month_not_started")
    plan = customer_plan(customer)
    pairs = report_pairs(session, customer.regions, period)
    windows = store.maintenance_windows(session, period.start, period.end)
    series = month_series(session, pairs, period, plan, windows)
    lines = tuple(ReportLine(line, tuple(days),
                             line_credit_cents(customer.monthly_fee_cents, len(series),
                                               line.credit_pct))
                  for line, days in series)
    records = store.incidents_touching(session, pairs, period.start, period.end)
    return CustomerReport(
        customer=customer, plan=plan, period=period,
        day_labels=tuple(s.label for s in day_slices(period.first_minute, period.end_minute)),
        lines=lines, incidents=incident_lines(records, plan, now), generated_at=now)
