"""The report from the database equals `bellwether sla compute` on the same checks, and the
public daily uptime adds up to the report for the same days."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app import main
from core.config import Settings
from core.db import make_session_factory, session_scope
from core.scheduler import JobContext
from probes import jobs
from probes import store as probe_store
from probes.checks import CheckResult
from reports.counts import day_first_minute, total_counts
from reports.daily import daily_uptime, uptime_over
from reports.monthly import month_lines
from reports.series import line_from_rollups
from reports.store import maintenance_windows
from sla.catalog import plan_named
from sla.export import line_fields
from sla.model import MinuteVerdict
from sla.period import month_period
from sla.report import line_from_counts
from tests.reports.builders import EU, OCTOBER, US, add_maintenance, insert_rollups
from tests.support.clock import ManualClock

LOCATIONS = ("loc-a", "loc-b", "loc-c")
PAIRS = (("orders", EU), ("import", EU), ("orders", US), ("checkout-ui", US))


def a_check(component: str, region: str, location: str, at: datetime, ok: bool) -> CheckResult:
    return CheckResult(probe=f"{component}.{region}", component=component, region=region,
                       location=location, intended_at=at, started_at=at, ok=ok,
                       latency_ms=40.0 if ok else 5000.0, interval_s=30)


def month_of_checks(rng: random.Random) -> list[CheckResult]:
    """Six hours a day on three days per pair, from the last minutes of September on:
    random blips, a majority outage, a one-location partition, a run across the month start."""
    checks = []
    starts = [OCTOBER - timedelta(minutes=3), OCTOBER + timedelta(days=9, hours=1),
              OCTOBER + timedelta(days=30, hours=20)]
    for index, (component, region) in enumerate(PAIRS):
        for start in starts:
            for step in range(6 * 120):
                at = start + timedelta(seconds=30 * step + rng.randint(0, 2))
                for location in LOCATIONS:
                    outage = 200 <= step < 200 + 20 * (index + 1) and location != "loc-c"
                    partition = 400 <= step < 460 and location == "loc-a"
                    edge = step < 8 and start < OCTOBER and location != "loc-b"
                    ok = not (outage or partition or edge) and rng.random() > 0.03
                    if location != "loc-a" and 500 <= step < 530:
                        continue  # two locations silent: single-location minutes
                    checks.append(a_check(component, region, location, at, ok))
    return checks


def check_line(check: CheckResult) -> str:
    return json.dumps({"component": check.component, "region": check.region,
                       "location": check.location,
                       "at": check.started_at.isoformat().replace("+00:00", "Z"),
                       "ok": check.ok, "latency_ms": check.latency_ms})


def store_and_roll_up(engine: Engine, checks: list[CheckResult]) -> None:
    clock = ManualClock(OCTOBER + timedelta(days=40))
    factory = make_session_factory(engine)
    for start in range(0, len(checks), 5000):
        with session_scope(factory) as session:
            probe_store.save_checks(session, checks[start:start + 5000], clock.now())
    ctx = JobContext(replace(Settings(), confirmations=2), clock, factory)
    while jobs.roll_up_minutes(ctx):
        pass


def compute(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    main(["sla", "compute", *args])
    out, err = capsys.readouterr()
    assert err == ""
    result: dict[str, object] = json.loads(out)
    return result


@pytest.mark.parametrize("plan_name", ["standard", "premium"])
def test_the_report_from_the_database_equals_sla_compute_on_the_same_checks(
        fresh_engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        plan_name: str) -> None:
    checks = month_of_checks(random.Random(5))
    rng = random.Random(9)
    rng.shuffle(checks)
    (tmp_path / "checks.jsonl").write_text("\n".join(map(check_line, checks)) + "\n")
    window_start = OCTOBER + timedelta(days=9, hours=2)
    window_end = window_start + timedelta(minutes=45, seconds=20)
    (tmp_path / "maint.json").write_text(json.dumps([{
        "start": window_start.isoformat(), "end": window_end.isoformat(),
        "components": ["orders"], "regions": [EU]}]))
    store_and_roll_up(fresh_engine, checks)
    with session_scope(make_session_factory(fresh_engine)) as session:
        add_maintenance(session, window_start, window_end, [("orders", EU)])
    expected = compute(capsys, "--checks", str(tmp_path / "checks.jsonl"), "--month",
                       "2026-10", "--plan", plan_name, "--maintenance",
                       str(tmp_path / "maint.json"))
    period, plan = month_period("2026-10"), plan_named(plan_name)
    with session_scope(make_session_factory(fresh_engine)) as session:
        pairs = sorted(PAIRS)
        lines = month_lines(session, pairs, period, plan)
        windows = maintenance_windows(session, period.start, period.end)
        plain = [line_from_rollups(session, c, r, period, plan, windows) for c, r in pairs]
    assert lines == plain
    assert [line_fields(line) for line in lines] == expected["lines"]
    assert all(line.downtime_minutes for line in lines)
    assert all(line.single_location_minutes for line in lines)
    assert [line.maintenance_minutes for line in lines] == [0, 0, 46, 0]  # 02:00 … 02:45


def test_the_public_90_day_uptime_equals_the_report_for_the_same_days(
        db_session: Session) -> None:
    rng = random.Random(3)
    first_day = date(2026, 9, 15)
    first = day_first_minute(first_day)
    insert_rollups(db_session, "search", EU, [
        (minute, "down" if rng.random() < 0.002 else "up", rng.choice((1, 3, 3)))
        for minute in range(first, first + 90 * 1440) if rng.random() < 0.9])
    add_maintenance(db_session, OCTOBER + timedelta(days=4), OCTOBER + timedelta(days=4, hours=2),
                    [("search", "")])
    now = datetime(2026, 12, 1, 6, 30, 20, tzinfo=UTC)
    days = daily_uptime(db_session, "search", EU, first_day, 90, now)
    october = [day for day in days if day.day.month == 10]
    plan = plan_named("standard")
    [line] = month_lines(db_session, [("search", EU)], month_period("2026-10"), plan)
    assert len(days) == 90
    assert len(october) == 31
    assert line_from_counts("search", EU, 1, total_counts(d.counts for d in october),
                            plan.target_for(1)) == line
    assert uptime_over(october) == line.uptime_pct
    assert october[4].maintenance_minutes == 120
    assert october[4].worst is not None
    assert sum(day.down_minutes for day in october) == line.downtime_minutes


def test_a_day_counts_only_the_minutes_that_ended_by_now(db_session: Session) -> None:
    insert_rollups(db_session, "auth", US, [(day_first_minute(date(2026, 10, 2)) + m, "up", 3)
                                            for m in range(600)])
    now = datetime(2026, 10, 2, 10, 0, 30, tzinfo=UTC)
    yesterday, today, tomorrow = daily_uptime(db_session, "auth", US, date(2026, 10, 1), 3, now)
    assert yesterday.counts.period == 1440
    assert yesterday.worst is MinuteVerdict.NO_DATA
    assert today.counts.period == 600
    assert today.no_data_minutes == 0
    assert today.uptime_pct == Decimal(100)
    assert today.worst is MinuteVerdict.UP
    assert tomorrow.counts.period == 0
    assert tomorrow.uptime_pct is None
    assert tomorrow.worst is None
