"""Error budgets over the last 30 days and the burn-rate alerts on them (spec §7).

The budget is judged against the most demanding plan a customer holds in the region
(premium where any premium customer has a project, standard elsewhere), so an alert fires
before the strictest commitment is at risk. Windows count the whole minutes ended by `now`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from sqlalchemy.orm import Session

from reports import store
from reports.monthly import report_pairs
from reports.series import down_minutes, load_series
from sla.budget import ALERT_RULES, AlertLevel, burn_alert, window_burn_rate
from sla.catalog import PREMIUM, STANDARD, tier_of
from sla.model import MaintenanceWindow, Plan, SlaLine
from sla.period import Period, minute_of
from sla.report import line_from_counts

BUDGET_WINDOW = timedelta(days=30)
PAGE_RULES = tuple(rule for rule in ALERT_RULES if rule.level is AlertLevel.PAGE)
TICKET_RULES = tuple(rule for rule in ALERT_RULES if rule.level is AlertLevel.TICKET)
#: Every window an alert rule looks at, shortest first.
ALERT_WINDOWS = tuple(sorted({w for r in ALERT_RULES for w in (r.short_window, r.long_window)}))
#: The minutes of the longest alert window: the only down minutes a burn rate looks at.
ALERT_SPAN_MINUTES = ALERT_WINDOWS[-1] // timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """A (component, region)'s last 30 days as a line, its burn rates and its alerts."""

    line: SlaLine
    plan: str
    start: datetime
    end: datetime
    burn_rates: tuple[tuple[timedelta, Fraction], ...]
    page: bool
    ticket: bool

    @property
    def alert(self) -> AlertLevel:
        """The most urgent alert that holds."""
        if self.page:
            return AlertLevel.PAGE
        return AlertLevel.TICKET if self.ticket else AlertLevel.NONE


def budget_period(now: datetime) -> Period:
    """The 30 days of whole minutes that ended by `now`."""
    minutes = BUDGET_WINDOW // timedelta(minutes=1)
    return Period("30d", minute_of(now) - minutes, minutes)


def plan_for_region(plans_held: Mapping[str, Set[str]], region: str) -> Plan:
    """Premium where any customer holds it in the region, standard elsewhere."""
    return PREMIUM if PREMIUM.name in plans_held.get(region, set()) else STANDARD


def budget_status(session: Session, component: str, region: str, plan: Plan, now: datetime,
                  windows: Sequence[MaintenanceWindow]) -> BudgetStatus:
    """The 30 days of whole minutes ending at `now`, and the alerts that hold at `now`."""
    period = budget_period(now)
    series = load_series(session, component, region, [period], windows)
    [counts] = series.counts()
    tier = tier_of(component)
    target = plan.target_for(tier)
    down = down_minutes(session, component, region, period.end_minute - ALERT_SPAN_MINUTES,
                        period.end_minute)
    rates = tuple((window, window_burn_rate(down, now, window, target, series.held))
                  for window in ALERT_WINDOWS)
    return BudgetStatus(
        line=line_from_counts(component, region, tier, counts, target), plan=plan.name,
        start=period.start, end=period.end, burn_rates=rates,
        page=burn_alert(down, now, target, series.held, PAGE_RULES) is AlertLevel.PAGE,
        ticket=burn_alert(down, now, target, series.held, TICKET_RULES) is AlertLevel.TICKET)


def budget_statuses(session: Session, regions: Sequence[str], now: datetime,
                    plan: Plan | None = None) -> list[BudgetStatus]:
    """Every catalogue service (and other component with rollups) in each region."""
    period = budget_period(now)
    windows = store.maintenance_windows(session, period.start, period.end)
    plans_held = store.customers_by_region(session)
    return [budget_status(session, component, region,
                          plan or plan_for_region(plans_held, region), now, windows)
            for component, region in report_pairs(session, regions, period)]
