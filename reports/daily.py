"""Daily uptime of a (component, region): what the public status page's 90-day bar shows.

Each day counts only the minutes that have ended by `now`; a longer stretch adds the days'
minutes and divides once (spec §8), so the bar and the monthly report always agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from reports import store
from reports.counts import DAY_MINUTES, day_first_minute, day_slices, total_counts
from reports.series import series_counts
from sla.model import InvalidPeriod, MinuteCounts, MinuteVerdict
from sla.period import minute_of, minute_start
from sla.uptime import rounded_pct, uptime_pct

MAX_DAYS = 366
NO_MINUTES = MinuteCounts(period=0, maintenance=0, downtime=0, no_data=0, single_location=0)


@dataclass(frozen=True, slots=True)
class DayUptime:
    """One UTC day of a (component, region); `counts` cover the minutes ended by `now`.

    >>> day = DayUptime(date(2026, 10, 1), MinuteCounts(1440, 60, 2, 0, 0))
    >>> str(day.uptime_pct), day.worst.value
    ('99.8551', 'down')
    """

    day: date
    counts: MinuteCounts

    @property
    def uptime_pct(self) -> Decimal | None:
        """Rounded to 4 decimals; None for a day that has not started."""
        return rounded_pct(uptime_pct(self.counts)) if self.counts.period else None

    @property
    def down_minutes(self) -> int:
        return self.counts.downtime

    @property
    def no_data_minutes(self) -> int:
        return self.counts.no_data

    @property
    def maintenance_minutes(self) -> int:
        return self.counts.maintenance

    @property
    def worst(self) -> MinuteVerdict | None:
        """The worst minute of the day: down, then no data, then maintenance, then up."""
        if not self.counts.period:
            return None
        for verdict, minutes in ((MinuteVerdict.DOWN, self.counts.downtime),
                                 (MinuteVerdict.NO_DATA, self.counts.no_data),
                                 (MinuteVerdict.MAINTENANCE, self.counts.maintenance)):
            if minutes:
                return verdict
        return MinuteVerdict.UP


def daily_uptime(session: Session, component: str, region: str, first_day: date, days: int,
                 now: datetime) -> list[DayUptime]:
    """`days` days from `first_day`, each counted over its minutes that ended by `now`."""
    if not 1 <= days <= MAX_DAYS:
        raise InvalidPeriod(f"days must be from 1 to {MAX_DAYS}, not {days}")
    first = day_first_minute(first_day)
    end = min(first + days * DAY_MINUTES, minute_of(now))
    slices = day_slices(first, end)
    windows = store.maintenance_windows(session, minute_start(first), minute_start(end)) \
        if slices else []
    counted = series_counts(session, component, region, slices, windows)
    result = [DayUptime(first_day + timedelta(days=i), counts)
              for i, counts in enumerate(counted)]
    result += [DayUptime(first_day + timedelta(days=i), NO_MINUTES)
               for i in range(len(result), days)]
    return result


def uptime_over(days: Iterable[DayUptime]) -> Decimal:
    """Uptime over several days: their minutes added up, divided once, 4 decimals."""
    return rounded_pct(uptime_pct(total_counts(day.counts for day in days)))
