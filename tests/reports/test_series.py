"""The fast path (day summaries, index-only counts + notable rollups) equals the plain path
over every rollup into `sla.report.month_line`, on random rollups, windows, slices that cut
days and both period bases."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from probes import rollup_reads
from probes.models import ComponentDay
from reports import store
from reports.counts import day_first_minute, day_slices, slice_counts, split_slices
from reports.monthly import month_lines
from reports.series import line_from_rollups, series_counts, span_of
from sla.catalog import PREMIUM, STANDARD
from sla.maintenance import maintenance_minutes
from sla.model import MaintenanceWindow, MinuteCounts, MinuteVerdict, PeriodBasis
from sla.period import Period, month_period
from sla.uptime import count_minutes
from tests.reports.builders import EU, OCTOBER, US, Rollup, add_maintenance, insert_rollups


def random_rollups(rng: random.Random, period: Period, share: float) -> list[Rollup]:
    """Rollups for about `share` of the period's minutes (and a few just outside it)."""
    rollups = []
    for minute in range(period.first_minute - 30, period.end_minute + 30):
        if rng.random() < share:
            verdict = "down" if rng.random() < 0.05 else "up"
            rollups.append((minute, verdict, rng.choice((1, 2, 3, 3, 3))))
    return rollups


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("basis", list(PeriodBasis))
def test_the_fast_path_equals_month_line_over_every_rollup(
        db_session: Session, seed: int, basis: PeriodBasis) -> None:
    rng = random.Random(seed)
    period = month_period("2026-11")
    plan = replace(PREMIUM if seed % 2 else STANDARD, period_basis=basis)
    pairs = [("orders", EU), ("import", EU), ("orders", US)]
    for component, region in pairs:
        insert_rollups(db_session, component, region, random_rollups(rng, period, 0.3))
    start = period.start
    add_maintenance(db_session, start + timedelta(days=3), start + timedelta(days=3, hours=5),
                    [("orders", EU)])
    add_maintenance(db_session, start - timedelta(hours=1), start + timedelta(minutes=90),
                    [("", US)])
    add_maintenance(db_session, start + timedelta(days=9), start + timedelta(days=10),
                    cancelled_at=start + timedelta(days=9, hours=2, minutes=10))
    add_maintenance(db_session, start + timedelta(days=12), start + timedelta(days=13),
                    cancelled_at=start)
    add_maintenance(db_session, start + timedelta(days=20, seconds=30),
                    start + timedelta(days=20, hours=1, seconds=10))
    windows = store.maintenance_windows(db_session, period.start, period.end)
    assert len(windows) == 4  # the window cancelled before it began excludes nothing
    fast = month_lines(db_session, pairs, period, plan)
    plain = [line_from_rollups(db_session, c, r, period, plan, windows) for c, r in pairs]
    assert fast == plain
    assert any(line.maintenance_minutes for line in fast)
    assert all(line.single_location_minutes for line in fast)


def test_every_day_of_a_month_counts_as_count_minutes_counts_it(db_session: Session) -> None:
    rng = random.Random(11)
    period = month_period("2026-10")
    insert_rollups(db_session, "carts", EU, random_rollups(rng, period, 0.5))
    window = MaintenanceWindow(OCTOBER + timedelta(days=1, hours=23),
                               OCTOBER + timedelta(days=2, hours=1))
    slices = day_slices(period.first_minute, period.end_minute)
    fast = series_counts(db_session, "carts", EU, slices, [window])
    verdicts = rollup_reads.verdicts_from_rollups(db_session, "carts", EU, period.first_minute,
                                           period.end_minute)
    plain = [count_minutes(day, verdicts.verdict_by_minute,
                           maintenance_minutes([window], "carts", EU, day),
                           locations_by_minute=verdicts.locations_by_minute) for day in slices]
    assert fast == plain
    assert len(fast) == 31
    assert fast[1].maintenance == 60
    assert fast[2].maintenance == 60


def test_rollups_the_job_never_writes_still_count_as_count_minutes_says() -> None:
    day = Period("d", 0, 10)
    notable = [(1, MinuteVerdict.NO_DATA, 2), (2, MinuteVerdict.MAINTENANCE, 1),
               (3, MinuteVerdict.DOWN, 1), (4, MinuteVerdict.DOWN, 3)]
    verdicts = {0: MinuteVerdict.UP, 1: MinuteVerdict.NO_DATA, 2: MinuteVerdict.MAINTENANCE,
                3: MinuteVerdict.DOWN, 4: MinuteVerdict.DOWN, 5: MinuteVerdict.UP}
    locations = {0: 2, 1: 2, 2: 1, 3: 1, 4: 3, 5: 3}
    held = {4, 7}
    fast = slice_counts([day], [6], notable, held, {4})
    assert fast == [count_minutes(day, verdicts, held, locations_by_minute=locations)]


def plain_counts(session: Session, component: str, region: str, slices: list[Period],
                 windows: list[MaintenanceWindow]) -> list[MinuteCounts]:
    """`count_minutes` over every rollup of each slice: the reference."""
    span = span_of(slices)
    verdicts = rollup_reads.verdicts_from_rollups(session, component, region, span.first_minute,
                                           span.end_minute)
    return [count_minutes(piece, verdicts.verdict_by_minute,
                          maintenance_minutes(windows, component, region, piece),
                          locations_by_minute=verdicts.locations_by_minute)
            for piece in slices]


def test_slices_that_cut_days_count_as_count_minutes_counts_them(db_session: Session) -> None:
    rng = random.Random(21)
    first = day_first_minute(OCTOBER.date()) + 700  # 11:40 on 1 October
    insert_rollups(db_session, "search", EU,
                   random_rollups(rng, Period("all", first - 1440, 40 * 1440), 0.6))
    window = MaintenanceWindow(OCTOBER + timedelta(days=6, hours=2),
                               OCTOBER + timedelta(days=6, hours=3))
    thirty = [Period("30d", first, 30 * 1440)]
    uneven = [Period("a", first, 3 * 1440 + 100), Period("b", first + 3 * 1440 + 100, 1440),
              Period("c", first + 4 * 1440 + 100, 5 * 1440 - 100)]
    for slices in (thirty, uneven):
        fast = series_counts(db_session, "search", EU, slices, [window])
        assert fast == plain_counts(db_session, "search", EU, slices, [window])
        assert sum(c.maintenance for c in fast) == 60
        assert all(c.downtime and c.single_location and c.no_data for c in fast)


def test_whole_days_come_from_the_day_summaries_and_partial_days_from_the_minutes(
        db_session: Session) -> None:
    first = day_first_minute(OCTOBER.date())
    insert_rollups(db_session, "search", EU, [(m, "up", 3) for m in range(first, first + 2880)])
    # A summary that disagrees with its minutes shows where each figure is read from.
    db_session.execute(update(ComponentDay).where(
        ComponentDay.component == "search", ComponentDay.day == first // 1440)
        .values(down_minutes=7))
    whole, partial = series_counts(db_session, "search", EU, [
        Period("whole", first, 1440), Period("partial", first + 1440, 1439)], [])
    assert (whole.downtime, partial.downtime) == (7, 0)
    [cut] = series_counts(db_session, "search", EU, [Period("cut", first + 1, 1439)], [])
    assert cut.downtime == 0


def test_a_day_a_maintenance_window_touches_is_counted_minute_by_minute() -> None:
    first = 20 * 1440
    slices = [Period("month", first + 30, 4 * 1440)]
    split = split_slices(slices, held=frozenset({first + 2 * 1440 + 5}))
    assert split.whole_days == ((21, 23),)
    assert [(p.first_minute - first, p.minutes) for p in split.pieces] == [
        (30, 1410), (2 * 1440, 1440), (4 * 1440, 30)]
    assert split.runs() == [(first + 30, first + 1440), (first + 2880, first + 4320),
                            (first + 5760, first + 5790)]
    assert split.day_span == (21, 24)
