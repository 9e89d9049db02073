"""A customer's monthly SLA report from the minute rollups (spec §5-§10).

One line per (component, region) for every region the customer has a project in: the
commerce catalogue's services, plus any other component with rollups there that month.
Lines use the customer's plan and period basis; the incidents that touched them are judged
against the plan's recovery objectives; credits are priced from the monthly fee.

While the month runs, the builder cuts it at the last whole minute before `now`: each line
then also has its month-to-date figures over the elapsed minutes only, beside the
full-month figures, in which the minutes still to come count as no data (a projection if
nothing else goes wrong). The SLA maths (sla/) stays the same for both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy.orm import Session

from commerce.catalog import SERVICES
from core.errors import BellwetherError
from probes import rollup_reads
from reports import store
from reports.counts import day_slices, month_counts, total_counts
from reports.incidents import IncidentLine, incident_lines
from reports.models import Customer
from reports.series import series_counts
from reports.store import ShortNoticeWindow
from sla.catalog import plan_named, tier_of
from sla.model import MaintenanceWindow, MinuteCounts, PeriodBasis, Plan, SlaLine
from sla.period import Period, minute_of, month_period
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
    """A line with its days (calendar days of the month), its credit in cents and, while
    the month runs, its month to date (elapsed minutes only)."""

    line: SlaLine
    days: tuple[MinuteCounts, ...]
    credit_cents: int | None
    to_date: SlaLine | None = None


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
    #: Maintenance announced with less than 7 days' notice: not excluded (spec), so its
    #: minutes count as downtime where the checks failed; listed with the stated reason.
    short_notice: tuple[ShortNoticeWindow, ...] = ()

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

    @property
    def to_date_totals(self) -> MinuteCounts | None:
        """The elapsed minutes of every line added up; None once the month is over."""
        if self.complete or any(item.to_date is None for item in self.lines):
            return None
        return total_counts(item.to_date.minute_counts() for item in self.lines
                            if item.to_date is not None)

    @property
    def to_date_uptime_pct(self) -> Decimal | None:
        totals = self.to_date_totals
        return None if totals is None else rounded_pct(uptime_pct(totals))

    @property
    def to_date_coverage_pct(self) -> Decimal | None:
        totals = self.to_date_totals
        return None if totals is None else rounded_pct(coverage_pct(totals))

    @property
    def elapsed_minutes(self) -> int:
        """Whole minutes of the month over when the report was made."""
        cut = elapsed_end(self.period, self.generated_at)
        return self.period.minutes if cut is None else cut - self.period.first_minute


def elapsed_end(period: Period, now: datetime) -> int | None:
    """The first minute of `period` not over at `now`, while the period runs; None before
    its first minute has ended or after its end."""
    cut = minute_of(now)
    return cut if period.first_minute < cut < period.end_minute else None


def _by_day(slices: Sequence[Period], counts: Sequence[MinuteCounts]) -> list[MinuteCounts]:
    """Slices cut at `now` joined back into their calendar days (a day's label)."""
    days: dict[str, MinuteCounts] = {}
    for piece, part in zip(slices, counts, strict=True):
        days[piece.label] = days[piece.label] + part if piece.label in days else part
    return list(days.values())


#: A pair's month: its line, its days, and its month to date while the month runs.
MonthSeries = tuple[SlaLine, list[MinuteCounts], SlaLine | None]


def month_series(session: Session, pairs: Sequence[Pair], period: Period, plan: Plan,
                 windows: Sequence[MaintenanceWindow], now: datetime | None = None,
                 ) -> list[MonthSeries]:
    """Each pair's month line and its days, from the rollups (the fast path); with `now`
    inside the month, also the line over its elapsed minutes."""
    cut = None if now is None else elapsed_end(period, now)
    if cut is None:
        slices = day_slices(period.first_minute, period.end_minute)
        elapsed = 0
    else:
        slices = day_slices(period.first_minute, cut)
        elapsed = len(slices)
        slices += day_slices(cut, period.end_minute)
    result: list[MonthSeries] = []
    for component, region in pairs:
        pieces = series_counts(session, component, region, slices, windows)
        tier = tier_of(component)
        target = plan.target_for(tier)
        days = _by_day(slices, pieces)
        counts = month_counts(period, plan.period_basis, days)
        to_date = None if cut is None else line_from_counts(
            component, region, tier, total_counts(pieces[:elapsed]), target)
        result.append((line_from_counts(component, region, tier, counts, target), days,
                       to_date))
    return result


def month_lines(session: Session, pairs: Sequence[Pair], period: Period, plan: Plan,
                windows: Sequence[MaintenanceWindow] | None = None) -> list[SlaLine]:
    """The month's SLA line of each pair, from the rollups."""
    if windows is None:
        windows = store.maintenance_windows(session, period.start, period.end)
    return [line for line, _, _ in month_series(session, pairs, period, plan, windows)]


def report_pairs(session: Session, regions: Sequence[str], period: Period) -> list[Pair]:
    """The catalogue's services in each region, plus other components with rollups there."""
    others = [c for c in rollup_reads.rollup_components(session) if c not in SERVICES]
    pairs = [(component, region) for region in regions for component in SERVICES]
    pairs += [(component, region) for region in regions for component in others
              if rollup_reads.has_rollups(session, component, region, period.first_minute,
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
    series = month_series(session, pairs, period, plan, windows, now)
    lines = tuple(ReportLine(line, tuple(days),
                             line_credit_cents(customer.monthly_fee_cents, len(series),
                                               line.credit_pct), to_date)
                  for line, days, to_date in series)
    records = store.incidents_touching(session, pairs, period.start, period.end)
    return CustomerReport(
        customer=customer, plan=plan, period=period,
        day_labels=tuple(s.label for s in day_slices(period.first_minute, period.end_minute)),
        lines=lines, incidents=incident_lines(records, plan, now), generated_at=now,
        short_notice=tuple(store.short_notice_windows(session, pairs, period.start,
                                                      period.end)))
