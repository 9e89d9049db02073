"""The day summaries (`rollup_days`) the rollup job keeps: always what counting the minute
rollups of the day gives, however and whenever the day's minutes were rewritten."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from core.config import Settings
from core.db import make_session_factory, session_scope
from core.scheduler import JobContext
from probes import jobs, store
from probes.checks import CheckResult
from probes.models import ComponentDay, ComponentMinute
from probes.rollup import ComponentMinuteRollup, Latency
from sla.model import MinuteVerdict
from sla.period import minute_of
from tests.support.clock import ManualClock
from tests.support.databases import migrated_engine

REGION = "europe-west1.gcp"
#: Ten minutes before midnight UTC, so that a run of checks spans two days.
LATE_EVENING = datetime(2026, 10, 5, 23, 50, tzinfo=UTC)
LOCATIONS = ("loc-a", "loc-b", "loc-c")
#: A day summary as a tuple: (day, minutes, down, single location, maintenance, no data).
Summary = tuple[int, int, int, int, int, int]


@pytest.fixture
def fresh_engine(tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(tmp_path, "rollupdays") as engine:
        yield engine


def a_check(location: str, at: datetime, ok: bool, component: str = "orders") -> CheckResult:
    return CheckResult(probe=f"{component}.eu", component=component, region=REGION,
                       location=location, intended_at=at, started_at=at, ok=ok,
                       latency_ms=40.0, interval_s=30)


def summaries(session: Session, component: str = "orders") -> list[Summary]:
    rows = session.scalars(select(ComponentDay).where(ComponentDay.component == component)
                           .order_by(ComponentDay.day))
    return [(r.day, r.minutes, r.down_minutes, r.single_location_minutes,
             r.maintenance_minutes, r.no_data_minutes) for r in rows]


def counted_from_minutes(session: Session, component: str = "orders") -> list[Summary]:
    """The day summaries counted in Python from every minute rollup."""
    days: dict[int, list[int]] = {}
    for r in session.scalars(select(ComponentMinute).where(
            ComponentMinute.component == component)):
        day = days.setdefault(r.minute // 1440, [0, 0, 0, 0, 0])
        day[0] += 1
        day[1] += r.verdict == "down"
        day[2] += r.locations == 1 and r.verdict != "maintenance"
        day[3] += r.verdict == "maintenance"
        day[4] += r.verdict == "no_data"
    return [(day, *counts) for day, counts in sorted(days.items())]  # type: ignore[misc]


def roll_up_everything(engine: Engine, now: datetime) -> None:
    ctx = JobContext(replace(Settings(), confirmations=2), ManualClock(now),
                     make_session_factory(engine))
    while jobs.roll_up_minutes(ctx):
        pass


def save(engine: Engine, checks: list[CheckResult]) -> None:
    with session_scope(make_session_factory(engine)) as session:
        store.save_checks(session, checks, LATE_EVENING)


def test_late_checks_rewrite_their_days_summaries_exactly(fresh_engine: Engine) -> None:
    steps = range(40)  # 20 minutes, 23:50 to 00:10
    save(fresh_engine, [a_check("loc-a", LATE_EVENING + timedelta(seconds=30 * step), True)
                        for step in steps])
    roll_up_everything(fresh_engine, LATE_EVENING + timedelta(hours=1))
    first_day = minute_of(LATE_EVENING) // 1440
    factory = make_session_factory(fresh_engine)
    with session_scope(factory) as session:
        assert summaries(session) == [(first_day, 10, 0, 10, 0, 0),
                                      (first_day + 1, 10, 0, 10, 0, 0)]
    # Two more locations report late; both fail from 23:58 to 00:01, across midnight.
    save(fresh_engine, [a_check(location, LATE_EVENING + timedelta(seconds=30 * step),
                                not 16 <= step < 24)
                        for location in ("loc-b", "loc-c") for step in steps])
    roll_up_everything(fresh_engine, LATE_EVENING + timedelta(hours=2))
    with session_scope(factory) as session:
        assert summaries(session) == [(first_day, 10, 2, 0, 0, 0),
                                      (first_day + 1, 10, 2, 0, 0, 0)]
        assert summaries(session) == counted_from_minutes(session)


def rollup(minute: int, verdict: MinuteVerdict, locations: int) -> ComponentMinuteRollup:
    return ComponentMinuteRollup(minute, 2 * locations, 0, 0, locations, 0,
                                 Latency(1.0, 2.0, 3.0), verdict)


def test_rewriting_minutes_recounts_every_day_they_touch_and_no_other(
        db_session: Session) -> None:
    midnight = minute_of(LATE_EVENING) + 10
    store.replace_rollups(db_session, "search", REGION, midnight - 1440, midnight + 1439, [],
                          [rollup(m, MinuteVerdict.UP, 3)
                           for m in range(midnight - 1440, midnight + 1440)])
    assert [s[:2] for s in summaries(db_session, "search")] == [
        (midnight // 1440 - 1, 1440), (midnight // 1440, 1440)]
    # Two minutes either side of midnight rewritten: one now down, one single-location,
    # one maintenance, one left without a rollup.
    store.replace_rollups(db_session, "search", REGION, midnight - 2, midnight + 1, [], [
        rollup(midnight - 2, MinuteVerdict.DOWN, 3),
        rollup(midnight - 1, MinuteVerdict.MAINTENANCE, 1),
        rollup(midnight, MinuteVerdict.UP, 1)])
    assert summaries(db_session, "search") == [
        (midnight // 1440 - 1, 1440, 1, 0, 1, 0), (midnight // 1440, 1439, 0, 1, 0, 0)]
    assert summaries(db_session, "search") == counted_from_minutes(db_session, "search")
    # Every minute of the second day gone: so is its summary.
    store.replace_rollups(db_session, "search", REGION, midnight, midnight + 1439, [], [])
    assert summaries(db_session, "search") == [(midnight // 1440 - 1, 1440, 1, 0, 1, 0)]


def test_recounting_heals_a_summary_whatever_wrote_the_minutes(db_session: Session) -> None:
    day = minute_of(LATE_EVENING) // 1440
    store.replace_rollups(db_session, "import", REGION, day * 1440, day * 1440 + 9, [],
                          [rollup(day * 1440 + i, MinuteVerdict.UP, 3) for i in range(10)])
    db_session.execute(delete(ComponentMinute).where(
        ComponentMinute.component == "import", ComponentMinute.minute == day * 1440 + 5))
    assert summaries(db_session, "import")[0][1] == 10  # stale until recounted
    store.recount_rollup_days(db_session, "import", REGION, day * 1440 + 700, day * 1440 + 700)
    assert summaries(db_session, "import") == [(day, 9, 0, 0, 0, 0)]
