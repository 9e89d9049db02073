"""The read side of the minute rollups, for reports: the probes package owns
`rollup_minutes` and `rollup_days`, so every query of them lives here and other packages
call these functions (one owner per table).

The SLA path reads rollups four ways: `day_summaries` reads the day summaries the rollup
job keeps (one row per whole UTC day); over the (component, region, minute) key,
`verdicts_from_rollups` fetches every minute (the plain path, the spec's own functions on
top), `rows_per_slice` counts minutes with a rollup without touching the rows (an
index-only count) and `notable_minutes` fetches only the rollups that are not plainly `up`
from two or more locations (through their partial index). `reports.counts` turns these
into the same minute counts `sla.uptime.count_minutes` gives, at a fraction of the cost.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, TextClause, and_, or_, select, text
from sqlalchemy.orm import Session

from probes.models import ComponentDay, ComponentMinute, LocationMinute
from sla.model import MinuteVerdict
from sla.period import Period
from sla.quorum import MinuteVerdicts

#: A rollup worth looking at one by one: (minute, verdict, locations that reported).
Notable = tuple[int, MinuteVerdict, int]

VERDICTS = {verdict.value: verdict for verdict in MinuteVerdict}
#: Rollups that are not plainly up from two or more locations (literals on purpose).
NOTABLE = text("(rollup_minutes.verdict <> 'up' OR rollup_minutes.locations = 1)")


@dataclass(frozen=True, slots=True)
class DaySummary:
    """One `rollup_days` row: a UTC day's rollups counted by the rollup job."""

    minutes: int
    down: int
    single_location: int
    maintenance: int
    no_data: int


def day_summaries(session: Session, component: str, region: str, first_day: int,
                  end_day: int) -> dict[int, DaySummary]:
    """The day summaries of a (component, region) for days [first, end) (`minute // 1440`).

    A day without a summary has no rollups.
    """
    rows = session.execute(
        select(ComponentDay.day, ComponentDay.minutes, ComponentDay.down_minutes,
               ComponentDay.single_location_minutes, ComponentDay.maintenance_minutes,
               ComponentDay.no_data_minutes)
        .where(ComponentDay.component == component, ComponentDay.region == region,
               ComponentDay.day >= first_day, ComponentDay.day < end_day))
    return {day: DaySummary(minutes, down, single, maintenance, no_data)
            for day, minutes, down, single, maintenance, no_data in rows}


def notable_day_counts(session: Session, day: int) -> list[tuple[str, str, int, int, int, int]]:
    """Every pair's notable minutes of one day (`minute // 1440`): (component, region, down,
    single-location, maintenance, no data), in order. What a day's bar shows beside its
    passing minutes, so a reader can tell when the bar changed without recounting."""
    rows = session.execute(
        select(ComponentDay.component, ComponentDay.region, ComponentDay.down_minutes,
               ComponentDay.single_location_minutes, ComponentDay.maintenance_minutes,
               ComponentDay.no_data_minutes)
        .where(ComponentDay.day == day)
        .order_by(ComponentDay.component, ComponentDay.region))
    return [(component, region, down, single, maintenance, no_data)
            for component, region, down, single, maintenance, no_data in rows]


def verdicts_from_rollups(session: Session, component: str, region: str, first_minute: int,
                          last_minute: int) -> MinuteVerdicts:
    """Every rollup of a (component, region) in [first, last]: its verdict and locations.

    Minutes without a rollup are absent, which the `sla` functions read as `no_data`.
    """
    rows = session.execute(
        select(ComponentMinute.minute, ComponentMinute.verdict, ComponentMinute.locations)
        .where(ComponentMinute.component == component, ComponentMinute.region == region,
               ComponentMinute.minute >= first_minute, ComponentMinute.minute <= last_minute))
    verdicts: dict[int, MinuteVerdict] = {}
    locations: dict[int, int] = {}
    for minute, verdict, reporting in rows:
        verdicts[minute] = VERDICTS[verdict]
        locations[minute] = reporting
    return MinuteVerdicts(verdicts, locations)


def _in_series(component: str, region: str, first_minute: int, end_minute: int,
               ) -> list[ColumnElement[bool]]:
    return [ComponentMinute.component == component, ComponentMinute.region == region,
            ComponentMinute.minute >= first_minute, ComponentMinute.minute < end_minute]


@functools.cache
def _slice_counts_sql(slices: int) -> TextClause:
    """One SELECT of `slices` index-only counts; built once per number of slices."""
    counts = ", ".join(
        f"(SELECT count(*) FROM rollup_minutes WHERE component = :component"
        f" AND region = :region AND minute >= :first{i} AND minute < :end{i}) AS s{i}"
        for i in range(slices))
    return text(f"SELECT {counts}")


def rows_per_slice(session: Session, component: str, region: str,
                   slices: Sequence[Period]) -> list[int]:
    """How many minutes of each slice have a rollup: one statement, index-only counts."""
    if not slices:
        return []
    params: dict[str, object] = {"component": component, "region": region}
    for index, piece in enumerate(slices):
        params[f"first{index}"], params[f"end{index}"] = piece.first_minute, piece.end_minute
    row = session.execute(_slice_counts_sql(len(slices)), params).one()
    return [int(value) for value in row]


def notable_minutes(session: Session, component: str, region: str, first_minute: int,
                    end_minute: int) -> list[Notable]:
    """Rollups in [first, end) that are not `up` from two or more locations, in order.

    The filter is SQL text with literal values, `verdict <> 'up' OR locations = 1`: neither
    backend proves that a filter with bound parameters implies a partial index's predicate,
    and the partial index with exactly this one (`ix_rollup_minutes_notable`) makes this a
    small index scan instead of a visit to every row of the range.
    """
    rows = session.execute(
        select(ComponentMinute.minute, ComponentMinute.verdict, ComponentMinute.locations)
        .where(*_in_series(component, region, first_minute, end_minute),
               NOTABLE)
        .order_by(ComponentMinute.minute))
    return [(minute, VERDICTS[verdict], reporting) for minute, verdict, reporting in rows]


def minutes_with_rollups(session: Session, component: str, region: str,
                         ranges: Iterable[range]) -> set[int]:
    """The minutes inside `ranges` that have a rollup (used for maintenance windows)."""
    bounds = [and_(ComponentMinute.minute >= r.start, ComponentMinute.minute < r.stop)
              for r in ranges if len(r)]
    if not bounds:
        return set()
    return set(session.scalars(
        select(ComponentMinute.minute).where(ComponentMinute.component == component,
                                             ComponentMinute.region == region, or_(*bounds))))


def rollup_components(session: Session) -> list[str]:
    """Every component with at least one rollup, by a skip scan of the primary key."""
    step = text(
        "WITH RECURSIVE comps(c) AS ("
        " SELECT min(component) FROM rollup_minutes"
        " UNION ALL"
        " SELECT (SELECT min(component) FROM rollup_minutes WHERE component > comps.c)"
        " FROM comps WHERE comps.c IS NOT NULL)"
        " SELECT c FROM comps WHERE c IS NOT NULL")
    return [str(component) for component in session.scalars(step)]


def has_rollups(session: Session, component: str, region: str, first_minute: int,
                end_minute: int) -> bool:
    """Whether the (component, region) has any rollup in [first, end)."""
    found = session.scalar(select(ComponentMinute.minute)
                           .where(*_in_series(component, region, first_minute, end_minute))
                           .limit(1))
    return found is not None


def latency_series(session: Session, component: str, region: str, now: datetime,
                   hours: int = 24) -> dict[str, list[tuple[int, float, float]]]:
    """p50 and p95 per location and minute over the last `hours`, from the rollups."""
    first = int((now - timedelta(hours=hours)).timestamp()) // 60
    rows = session.execute(
        select(LocationMinute.location, LocationMinute.minute, LocationMinute.latency_p50_ms,
               LocationMinute.latency_p95_ms)
        .where(LocationMinute.component == component, LocationMinute.region == region,
               LocationMinute.minute >= first)
        .order_by(LocationMinute.minute))
    series: dict[str, list[tuple[int, float, float]]] = {}
    for location, minute, p50, p95 in rows:
        series.setdefault(location, []).append((minute, p50, p95))
    return series
