"""The rollup, evaluation and retention jobs against a real database (SQLite or PostgreSQL)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from core.config import Settings
from core.db import make_session_factory, session_scope
from core.scheduler import JobContext
from probes import jobs, store
from probes.checks import CheckResult
from probes.models import CheckRow, ComponentMinute, LocationMinute
from probes.rollup import RawCheck, roll_up
from probes.specs import default_catalogue
from sla.period import minute_of
from tests.support.clock import ManualClock
from tests.support.databases import migrated_engine

START = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
LOCATIONS = ("loc-a", "loc-b", "loc-c")


@pytest.fixture
def fresh_engine(tmp_path: Path) -> Iterator[Engine]:
    """A database of its own: these jobs look at every row, so tests must not share one."""
    with migrated_engine(tmp_path, "jobs") as engine:
        yield engine


def job_context(engine: Engine, clock: ManualClock) -> JobContext:
    settings = replace(Settings(), confirmations=2)
    return JobContext(settings, clock, make_session_factory(engine))


def a_check(location: str, at: datetime, ok: bool, component: str = "orders",
            latency: float = 40.0) -> CheckResult:
    return CheckResult(probe=f"{component}.eu", component=component, region="europe-west1.gcp",
                       location=location, intended_at=at, started_at=at, ok=ok,
                       latency_ms=latency, interval_s=30)


def save(engine: Engine, checks: list[CheckResult], now: datetime) -> int:
    with session_scope(make_session_factory(engine)) as session:
        return store.save_checks(session, checks, now)


def roll_up_everything(ctx: JobContext) -> None:
    while jobs.roll_up_minutes(ctx):
        pass


def random_checks(rng: random.Random, minutes: int) -> list[CheckResult]:
    checks = []
    for location in LOCATIONS:
        for step in range(minutes * 2):
            at = START + timedelta(seconds=30 * step + rng.randint(0, 3))
            checks.append(a_check(location, at, ok=rng.random() > 0.25,
                                  latency=float(rng.randint(5, 500))))
    return checks


def stored_rollups(engine: Engine) -> list[tuple[object, ...]]:
    with session_scope(make_session_factory(engine)) as session:
        return [(r.minute, r.checks, r.failures, r.locations, r.locations_down, r.verdict,
                 r.latency_p50_ms, r.latency_p95_ms, r.latency_max_ms)
                for r in session.scalars(select(ComponentMinute).order_by(ComponentMinute.minute))]


def recount(checks: list[CheckResult]) -> list[tuple[object, ...]]:
    series: dict[str, list[RawCheck]] = {}
    for c in checks:
        micros = int(c.started_at.timestamp()) * 1_000_000 + c.started_at.microsecond
        series.setdefault(c.location, []).append(RawCheck(micros, c.ok, False, c.latency_ms))
    minutes = {minute_of(c.started_at) for c in checks}
    _, combined = roll_up(series, minutes, confirmations=2)
    return [(r.minute, r.checks, r.failures, r.locations, r.locations_down, r.verdict.value,
             r.latency.p50_ms, r.latency.p95_ms, r.latency.max_ms) for r in combined]


def test_rollups_equal_a_recount_of_raw_results_whatever_the_arrival_order(
        fresh_engine: Engine) -> None:
    rng = random.Random(7)
    checks = random_checks(rng, minutes=40)
    clock = ManualClock(START + timedelta(hours=2))
    ctx = job_context(fresh_engine, clock)
    shuffled = checks[:]
    rng.shuffle(shuffled)
    for start in range(0, len(shuffled), 37):  # batches arrive late and out of order
        save(fresh_engine, shuffled[start:start + 37], clock.now())
        roll_up_everything(ctx)
    assert stored_rollups(fresh_engine) == recount(checks)
    with session_scope(make_session_factory(fresh_engine)) as session:
        assert session.scalar(select(func.count()).select_from(CheckRow)
                              .where(CheckRow.rolled_up.is_(False))) == 0
        locations = session.scalar(select(func.count()).select_from(LocationMinute))
    assert locations == 3 * 40


def test_a_batch_sent_twice_is_stored_once(fresh_engine: Engine) -> None:
    checks = [a_check("loc-a", START + timedelta(seconds=i), True) for i in range(5)]
    assert save(fresh_engine, checks, START) == 5
    assert save(fresh_engine, [*checks, a_check("loc-b", START, False)], START) == 1


def test_the_rollup_job_is_idempotent(fresh_engine: Engine) -> None:
    clock = ManualClock(START + timedelta(hours=1))
    ctx = job_context(fresh_engine, clock)
    save(fresh_engine, random_checks(random.Random(3), minutes=10), clock.now())
    roll_up_everything(ctx)
    before = stored_rollups(fresh_engine)
    assert jobs.roll_up_minutes(ctx) == 0
    assert stored_rollups(fresh_engine) == before


def test_checks_still_in_flight_wait_for_the_next_pass(fresh_engine: Engine) -> None:
    clock = ManualClock(START)
    ctx = job_context(fresh_engine, clock)
    save(fresh_engine, [a_check("loc-a", START - timedelta(seconds=1), True)], START)
    assert jobs.roll_up_minutes(ctx) == 0  # younger than the settle time
    clock.advance(timedelta(seconds=5))
    assert jobs.roll_up_minutes(ctx) == 1


def test_retention_never_deletes_a_result_that_is_not_rolled_up(fresh_engine: Engine) -> None:
    clock = ManualClock(START + timedelta(days=40))
    ctx = job_context(fresh_engine, clock)
    old = [a_check("loc-a", START + timedelta(seconds=30 * i), True) for i in range(4)]
    save(fresh_engine, old[:2], START)
    roll_up_everything(ctx)
    save(fresh_engine, old[2:], START)  # arrived late, not rolled up yet
    assert jobs.prune_checks(ctx) == 2
    with session_scope(make_session_factory(fresh_engine)) as session:
        left = set(session.scalars(select(CheckRow.id)))
    assert left == {old[2].id, old[3].id}
    roll_up_everything(ctx)
    assert jobs.prune_checks(ctx) == 2


def test_the_evaluation_records_each_change_of_state_with_its_time(fresh_engine: Engine) -> None:
    clock = ManualClock(START)
    ctx = job_context(fresh_engine, clock)
    factory = make_session_factory(fresh_engine)
    catalogue = [p for p in default_catalogue(["europe-west1.gcp"]) if p.component == "orders"]
    with session_scope(factory) as session:
        store.sync_probes(session, catalogue, START)
    for step, failing in enumerate([(), (), ("loc-a", "loc-b"), ("loc-a", "loc-b"), ()]):
        at = clock.now()
        save(fresh_engine, [a_check(loc, at, ok=loc not in failing) for loc in LOCATIONS], at)
        jobs.evaluate_states(ctx)
        clock.advance(timedelta(seconds=30))
        del step
    with session_scope(factory) as session:
        history = [(c.from_state, c.to_state, c.at) for c in reversed(store.state_history(session))]
        current = store.states(session)[("orders", "europe-west1.gcp")].state
    assert history == [("operational", "major_outage", START + timedelta(seconds=90)),
                       ("major_outage", "operational", START + timedelta(seconds=120))]
    assert current == "operational"


def test_a_location_without_fresh_checks_does_not_vote(fresh_engine: Engine) -> None:
    clock = ManualClock(START)
    ctx = job_context(fresh_engine, clock)
    factory = make_session_factory(fresh_engine)
    with session_scope(factory) as session:
        store.sync_probes(session, [p for p in default_catalogue(["europe-west1.gcp"])
                                    if p.component == "orders"], START)
    save(fresh_engine, [a_check("loc-c", START - timedelta(minutes=30), False)], START)
    for _ in range(3):
        save(fresh_engine, [a_check("loc-a", clock.now(), False)], clock.now())
        jobs.evaluate_states(ctx)
        clock.advance(timedelta(seconds=30))
    with session_scope(factory) as session:
        assert store.states(session)[("orders", "europe-west1.gcp")].state == "major_outage"


def test_a_second_worker_skips_the_evaluation_while_one_runs(fresh_engine: Engine) -> None:
    from core.db import try_singleton

    factory = make_session_factory(fresh_engine)
    clock = ManualClock(START)
    ctx = job_context(fresh_engine, clock)
    with session_scope(factory) as session:
        store.sync_probes(session, [p for p in default_catalogue(["europe-west1.gcp"])
                                    if p.component == "orders"], START)
    save(fresh_engine, [a_check(loc, START, False) for loc in LOCATIONS], START)
    save(fresh_engine, [a_check(loc, START + timedelta(seconds=1), False)
                        for loc in LOCATIONS], START)
    if fresh_engine.dialect.name == "postgresql":
        with session_scope(factory) as holder:
            assert try_singleton(holder, "probes.evaluate")
            assert jobs.evaluate_states(ctx) == 0  # the other "worker" holds the lock
    else:  # SQLite: one writer at a time already (BEGIN IMMEDIATE); the guard lets it run
        with session_scope(factory) as session:
            assert try_singleton(session, "probes.evaluate")
    assert jobs.evaluate_states(ctx) == 1
