"""Error budget, burn rate and the multi-window, multi-burn-rate alert (spec §7).

Windows count whole minutes that have ended by `now`: the minute in progress is not judged
yet, so the 5-minute window is the last five complete minutes.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from sla.model import MinuteVerdict
from sla.period import minute_of


def budget_minutes(eligible_minutes: int, target_pct: Decimal) -> Decimal:
    """Downtime the month may hold: `eligible × (1 − target / 100)`, exact."""
    return Decimal(eligible_minutes) * (1 - target_pct / 100)


def budget_fraction(target_pct: Decimal) -> Fraction:
    """The share of minutes that may be down: `1 − target / 100`."""
    return 1 - Fraction(target_pct) / 100


def burn_rate(down_minutes: int, eligible_minutes: int, target_pct: Decimal) -> Fraction:
    """How many times faster than allowed the budget burns; 0 when nothing was eligible.

    >>> burn_rate(1, 60, Decimal("99.9"))
    Fraction(50, 3)
    """
    if eligible_minutes == 0:
        return Fraction(0)
    return Fraction(down_minutes, eligible_minutes) / budget_fraction(target_pct)


class AlertLevel(StrEnum):
    """What a burn calls for: a page, a ticket-level notice, or nothing."""

    NONE = "none"
    TICKET = "ticket"
    PAGE = "page"


@dataclass(frozen=True, slots=True)
class AlertRule:
    """Alert at `level` when the burn rate is ≥ `threshold` over both windows at once."""

    level: AlertLevel
    threshold: Fraction
    long_window: timedelta
    short_window: timedelta


# For a 30-day budget; the most urgent first (Google SRE workbook, "Alerting on SLOs").
ALERT_RULES: tuple[AlertRule, ...] = (
    AlertRule(AlertLevel.PAGE, Fraction("14.4"), timedelta(hours=1), timedelta(minutes=5)),
    AlertRule(AlertLevel.PAGE, Fraction(6), timedelta(hours=6), timedelta(minutes=30)),
    AlertRule(AlertLevel.TICKET, Fraction(1), timedelta(days=3), timedelta(hours=6)),
)


def window_burn_rate(verdict_by_minute: Mapping[int, MinuteVerdict], now: datetime,
                     window: timedelta, target_pct: Decimal,
                     maintenance: Set[int] = frozenset()) -> Fraction:
    """The burn rate over the whole minutes of `window` that ended by `now`.

    Maintenance minutes (in `maintenance` or so marked) are not eligible; missing ones
    are `no_data` and count as available, as in the month's figures.
    """
    end = minute_of(now)
    down = eligible = 0
    for minute in range(end - window // timedelta(minutes=1), end):
        verdict = verdict_by_minute.get(minute, MinuteVerdict.NO_DATA)
        if minute in maintenance or verdict == MinuteVerdict.MAINTENANCE:
            continue
        eligible += 1
        down += verdict == MinuteVerdict.DOWN
    return burn_rate(down, eligible, target_pct)


def burn_alert(verdict_by_minute: Mapping[int, MinuteVerdict], now: datetime,
               target_pct: Decimal, maintenance: Set[int] = frozenset(),
               rules: tuple[AlertRule, ...] = ALERT_RULES) -> AlertLevel:
    """The most urgent alert whose rule holds over both its windows at `now`."""
    for rule in rules:
        if all(window_burn_rate(verdict_by_minute, now, window, target_pct, maintenance)
               >= rule.threshold for window in (rule.long_window, rule.short_window)):
            return rule.level
    return AlertLevel.NONE
