"""Silence is a state: pairs without fresh checks go `no_data` and are paged once per gap;
silent agents are paged once; evaluation records its own runs and reads only new checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine, select

from alerts.models import OutboxRow
from core.clock import ManualClock
from core.config import Settings
from core.db import make_session_factory, session_scope
from core.models import JobRun
from core.scheduler import JobContext
from probes import jobs, store
from probes.checks import CheckResult
from probes.models import Agent
from probes.specs import default_catalogue
from tests.support.databases import migrated_engine

START = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
LOCATIONS = ("loc-a", "loc-b", "loc-c")
REGION = "europe-west1.gcp"
PAIR = ("search", REGION)


@pytest.fixture
def fresh_engine(tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(tmp_path, "silence") as engine:
        yield engine


def context(engine: Engine, clock: ManualClock, **settings: Any) -> JobContext:
    values = {"confirmations": 2, "regions": (REGION,), "pagerduty_routing_key_tier1": "K1",
              **settings}
    return JobContext(replace(Settings(), **values), clock, make_session_factory(engine),
                      {"probes": SimpleNamespace(locations=LOCATIONS)})


def seed(engine: Engine, components: tuple[str, ...] = ("search",)) -> None:
    with session_scope(make_session_factory(engine)) as session:
        store.sync_probes(session, [p for p in default_catalogue([REGION])
                                    if p.component in components], START)


def check(location: str, at: datetime, ok: bool = True, component: str = "search",
          ) -> CheckResult:
    return CheckResult(probe=f"{component}.eu", component=component, region=REGION,
                       location=location, intended_at=at, started_at=at, ok=ok,
                       latency_ms=20.0, interval_s=30)


def save(engine: Engine, checks: list[CheckResult], now: datetime) -> None:
    with session_scope(make_session_factory(engine)) as session:
        store.save_checks(session, checks, now)


def run(engine: Engine, ctx: JobContext, clock: ManualClock, seconds: int,
        locations: tuple[str, ...] = LOCATIONS) -> None:
    """`seconds` of 30 s checks from `locations`, evaluating every 10 s."""
    for step in range(seconds // 10):
        if step % 3 == 0 and locations:
            save(engine, [check(loc, clock.now()) for loc in locations], clock.now())
        jobs.evaluate_states(ctx)
        clock.advance(timedelta(seconds=10))


def state(engine: Engine, pair: tuple[str, str] = PAIR) -> str:
    with session_scope(make_session_factory(engine)) as session:
        return store.states(session)[pair].state


def pages(engine: Engine) -> list[tuple[str, str, str, str]]:
    with session_scope(make_session_factory(engine)) as session:
        return [(r.event_type, r.recipient, r.payload["dedup_key"], r.payload["summary"])
                for r in session.scalars(select(OutboxRow).order_by(OutboxRow.id))]


def test_a_pair_without_fresh_checks_goes_no_data_and_is_paged_once_per_gap(
        fresh_engine: Engine) -> None:
    clock = ManualClock(START)
    ctx = context(fresh_engine, clock)
    seed(fresh_engine)
    jobs.evaluate_states(ctx)  # just listed, no check yet: its first checks get time
    clock.advance(timedelta(seconds=20))
    run(fresh_engine, ctx, clock, 100)
    assert state(fresh_engine) == "operational"
    assert pages(fresh_engine) == []
    run(fresh_engine, ctx, clock, 300, locations=("loc-a",))  # two of three fall silent
    assert state(fresh_engine) == "no_data"
    with session_scope(make_session_factory(fresh_engine)) as session:
        change = store.state_history(session, "search", REGION)[0]
    assert (change.from_state, change.to_state) == ("operational", "no_data")
    gap_start = int(change.at.timestamp())
    # silent since ~120 s; stale after 3 intervals + the timeout
    assert change.at - START <= timedelta(seconds=120 + 3 * 30 + 10 + 10)
    key = f"bellwether-nodata-search-{REGION}-{gap_start}"
    assert pages(fresh_engine) == [
        ("page.trigger", "K1", key, f"Bellwether cannot see search in {REGION}")]
    run(fresh_engine, ctx, clock, 60)  # data is back
    assert state(fresh_engine) == "operational"
    assert [p[:3] for p in pages(fresh_engine)] == [("page.trigger", "K1", key),
                                                   ("page.resolve", "K1", key)]
    run(fresh_engine, ctx, clock, 300, locations=())  # a second gap: a new alert
    assert state(fresh_engine) == "no_data"
    triggers = [p[2] for p in pages(fresh_engine) if p[0] == "page.trigger"]
    assert len(triggers) == 2
    assert triggers[1] != key


def test_a_disabled_probe_does_not_leave_its_pair_green(fresh_engine: Engine) -> None:
    clock = ManualClock(START)
    ctx = context(fresh_engine, clock, pagerduty_routing_key_tier1=None)
    seed(fresh_engine)
    run(fresh_engine, ctx, clock, 90)
    assert state(fresh_engine) == "operational"
    with session_scope(make_session_factory(fresh_engine)) as session:
        for spec in store.list_probes(session, (REGION,)):
            store.save_probe(session, replace(spec, enabled=False), clock.now())
    run(fresh_engine, ctx, clock, 300, locations=())
    assert state(fresh_engine) == "no_data"
    assert pages(fresh_engine) == []  # no routing key: nothing to page


def test_a_silent_agent_is_paged_once_and_resolved_when_it_reports(
        fresh_engine: Engine) -> None:
    clock = ManualClock(START)
    ctx = context(fresh_engine, clock)
    factory = make_session_factory(fresh_engine)
    with session_scope(factory) as session:
        session.add(Agent(name="edge-1", location="loc-b", first_seen_at=START,
                          last_seen_at=START))
    for _ in range(12):  # 120 s: silent after 90
        jobs.evaluate_states(ctx)
        clock.advance(timedelta(seconds=10))
    summary = "Bellwether agent edge-1 (location loc-b) is silent"
    assert [(p[0], p[3]) for p in pages(fresh_engine)] == [("page.trigger", summary)]
    with session_scope(factory) as session:
        silent_since = session.get(Agent, "edge-1").silent_since  # type: ignore[union-attr]
        assert silent_since is not None
        session.get(Agent, "edge-1").last_seen_at = clock.now()  # type: ignore[union-attr]
    jobs.evaluate_states(ctx)
    jobs.evaluate_states(ctx)
    assert [p[0] for p in pages(fresh_engine)] == ["page.trigger", "page.resolve"]
    assert len({p[2] for p in pages(fresh_engine)}) == 1
    with session_scope(factory) as session:
        assert session.get(Agent, "edge-1").silent_since is None  # type: ignore[union-attr]


def test_each_pass_is_recorded_in_job_runs(fresh_engine: Engine) -> None:
    clock = ManualClock(START)
    ctx = context(fresh_engine, clock)
    seed(fresh_engine)
    jobs.evaluate_states(ctx)
    clock.advance(timedelta(seconds=3))
    jobs.evaluate_states(ctx)
    with session_scope(make_session_factory(fresh_engine)) as session:
        row = session.get(JobRun, "probes.evaluate")
        assert row is not None
        assert row.last_run_at.replace(tzinfo=UTC) == clock.now()
        assert row.last_ok_at is not None
        assert row.last_ok_at.replace(tzinfo=UTC) == clock.now()


def counting(function: Callable[..., Any], seen: list[int]) -> Callable[..., Any]:
    def counted(*args: Any, **kwargs: Any) -> Any:
        found = function(*args, **kwargs)
        if isinstance(found, dict):  # the old reader: pair → location → checks
            seen.append(sum(len(c) for per in found.values() for c in per.values()))
        else:
            seen.append(len(found))
        return found
    return counted


def test_a_pass_reads_only_new_checks_not_each_pairs_history(
        fresh_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A daily TLS probe beside 30 s probes once made every pass read 13 days of checks."""
    clock = ManualClock(START)
    ctx = context(fresh_engine, clock)
    factory = make_session_factory(fresh_engine)
    daily = [replace(p, interval_s=86_400) for p in default_catalogue([REGION])
             if p.component == "search"]
    with session_scope(factory) as session:
        store.sync_probes(session, daily, START)
    history = [check(loc, START - timedelta(seconds=30 * i), component="orders")
               for i in range(1, 2000) for loc in LOCATIONS]
    save(fresh_engine, history, START)
    jobs.evaluate_states(ctx)  # the first pass loads what it needs once
    seen: list[int] = []
    for name in ("checks_received_since", "checks_of_pairs", "recent_observations"):
        if hasattr(store, name):
            monkeypatch.setattr(store, name, counting(getattr(store, name), seen))
    for _ in range(5):
        clock.advance(timedelta(seconds=1))
        save(fresh_engine, [check("loc-a", clock.now(), component="orders")], clock.now())
        jobs.evaluate_states(ctx)
    # what arrived in the last half minute (re-read in case of late commits), not 6,000
    assert 0 < sum(seen) <= 5 * 20
