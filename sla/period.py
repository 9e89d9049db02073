"""Periods as ranges of whole UTC minutes, numbered from the Unix epoch.

Minutes are plain ints (`minute_of(at)`), so a month of verdicts is a small dict and the
database path can key its minute rollups the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sla.model import InvalidPeriod, PeriodBasis

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROS_PER_MINUTE = 60_000_000
FIXED_MONTH_MINUTES = 43_200  # commercetools' 30-day month (§8)

_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


def micros_of(at: datetime) -> int:
    """Microseconds since the epoch: exact, unlike a float timestamp."""
    return (at - EPOCH) // timedelta(microseconds=1)


def minute_of(at: datetime) -> int:
    """The minute a moment belongs to: `floor(at)` to the minute (spec §1)."""
    return micros_of(at) // MICROS_PER_MINUTE


def minute_start(minute: int) -> datetime:
    """When a minute starts, in UTC."""
    return EPOCH + timedelta(minutes=minute)


@dataclass(frozen=True, slots=True)
class Period:
    """Consecutive whole minutes `[first_minute, first_minute + minutes)`.

    >>> p = month_period("2026-02")
    >>> p.minutes, p.start.isoformat()
    (40320, '2026-02-01T00:00:00+00:00')
    """

    label: str
    first_minute: int
    minutes: int

    def __post_init__(self) -> None:
        if self.minutes <= 0:
            raise InvalidPeriod(f"period {self.label} has no minutes")

    @property
    def end_minute(self) -> int:
        """The first minute after the period."""
        return self.first_minute + self.minutes

    @property
    def start(self) -> datetime:
        return minute_start(self.first_minute)

    @property
    def end(self) -> datetime:
        return minute_start(self.end_minute)

    def __contains__(self, minute: object) -> bool:
        return isinstance(minute, int) and self.first_minute <= minute < self.end_minute

    def basis_minutes(self, basis: PeriodBasis) -> int:
        """The `period_minutes` a report uses: the calendar's, or a fixed 43,200 (§8)."""
        return FIXED_MONTH_MINUTES if basis is PeriodBasis.FIXED_30D else self.minutes


def parse_instant(text: str) -> datetime | None:
    """An ISO 8601 time with `Z` or an offset; None for anything else, naive times included."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    return at if at.utcoffset() is not None else None


def month_period(text: str) -> Period:
    """The calendar month `YYYY-MM`, in UTC."""
    match = _MONTH.fullmatch(text)
    if match is None or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1:
        raise InvalidPeriod(f"month {text!r} is not YYYY-MM")
    year, month = int(match[1]), int(match[2])
    start = datetime(year, month, 1, tzinfo=UTC)
    if month == 12 and year == 9999:
        raise InvalidPeriod(f"month {text!r} is out of range")
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return Period(text, minute_of(start), minute_of(end) - minute_of(start))
