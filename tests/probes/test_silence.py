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
from core.config import Settings
from core.db import make_session_factory, session_scope
from core.models import JobRun
from core.scheduler import JobContext
from probes import jobs, store
from probes.checks import CheckResult
from probes.heartbeats import Heartbeat, agent_status
from probes.models import Agent
from probes.specs import default_catalogue
from tests.support.clock import ManualClock
from tests.support.databases import migrated_engine
from tests.support.statements import statements, writes

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
    key = f"bellwether-nodata-{REGION}-{gap_start}"
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
    for _ in range(11):  # 110 s: shown silent after 90, not paged before 90 + 30
        jobs.evaluate_states(ctx)
        clock.advance(timedelta(seconds=10))
    assert agent_status(START, None, clock.now(), 30) == "silent"
    assert pages(fresh_engine) == [], "a heartbeat held up for less than the grace pages no one"
    for _ in range(3):  # 140 s
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


def test_a_pass_that_finds_nothing_new_writes_only_its_own_run(fresh_engine: Engine) -> None:
    """Counted statements, not timings: a steady pair once cost an UPDATE every second."""
    seed(fresh_engine)
    clock = ManualClock(START)
    ctx = context(fresh_engine, clock)
    run(fresh_engine, ctx, clock, 120)
    assert state(fresh_engine) == "operational"
    with statements(fresh_engine) as seen:
        jobs.evaluate_states(ctx)  # the same checks, the same state and reason
    written = writes(seen)
    assert written, "the pass records its run"
    assert all("job_runs" in w for w in written), written


def test_the_probe_list_is_parsed_once_per_change_not_every_pass(
        fresh_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(fresh_engine)
    clock = ManualClock(START)
    ctx = context(fresh_engine, clock)
    parsed: list[int] = []
    monkeypatch.setattr(store, "list_probes", counting(store.list_probes, parsed))
    run(fresh_engine, ctx, clock, 60)
    assert len(parsed) == 1, "six passes, one parse"
    seed(fresh_engine, ("search", "orders"))  # a probe added: the marker moves
    run(fresh_engine, ctx, clock, 20)
    assert len(parsed) == 2
    assert ("orders", REGION) in ctx.parts[jobs.CATALOGUE_PART][2]


def run_each(engine: Engine, ctx: JobContext, clock: ManualClock, seconds: int,
             senders: dict[str, tuple[str, ...]]) -> None:
    """`seconds` of 30 s checks, each component from its own locations, evaluating every
    10 s."""
    for step in range(seconds // 10):
        if step % 3 == 0:
            save(engine, [check(loc, clock.now(), component=component)
                          for component, locations in senders.items() for loc in locations],
                 clock.now())
        jobs.evaluate_states(ctx)
        clock.advance(timedelta(seconds=10))


def triggers(engine: Engine) -> list[tuple[str, str]]:
    return [(p[2], p[3]) for p in pages(engine) if p[0] == "page.trigger"]


def started(engine: Engine, ctx: JobContext, clock: ManualClock,
            components: tuple[str, ...]) -> None:
    """Seed `components`, watch them get their first checks, all operational."""
    seed(engine, components)
    jobs.evaluate_states(ctx)
    clock.advance(timedelta(seconds=20))
    run_each(engine, ctx, clock, 100, dict.fromkeys(components, LOCATIONS))
    assert {state(engine, (c, REGION)) for c in components} == {"operational"}


def test_a_blip_shorter_than_one_interval_past_the_window_pages_nobody(
        fresh_engine: Engine) -> None:
    clock = ManualClock(START)
    ctx = context(fresh_engine, clock)
    started(fresh_engine, ctx, clock, ("search", "orders"))
    # search hears only loc-a for 120 s: no_data after 3 intervals + the timeout (at most
    # 20 s, with checks every 30 s and passes every 10 s), back before a 30 s grace is over
    run_each(fresh_engine, ctx, clock, 120, {"search": ("loc-a",), "orders": LOCATIONS})
    with session_scope(make_session_factory(fresh_engine)) as session:
        went = [c.to_state for c in store.state_history(session, "search", REGION)]
    assert "no_data" in went
    run_each(fresh_engine, ctx, clock, 60, {"search": LOCATIONS, "orders": LOCATIONS})
    assert state(fresh_engine) == "operational"
    assert pages(fresh_engine) == []


def test_gaps_of_one_region_are_one_page_joined_without_a_new_trigger_and_resolved_once(
        fresh_engine: Engine) -> None:
    clock = ManualClock(START)
    ctx = context(fresh_engine, clock)
    components = ("search", "orders", "carts", "products")
    started(fresh_engine, ctx, clock, components)
    half = {"search": ("loc-a",), "orders": ("loc-a",), "carts": LOCATIONS,
            "products": LOCATIONS}
    run_each(fresh_engine, ctx, clock, 200, half)
    assert triggers(fresh_engine) == [
        (triggers(fresh_engine)[0][0], f"Bellwether cannot see orders, search in {REGION}")]
    run_each(fresh_engine, ctx, clock, 200, {**half, "carts": ("loc-a",)})  # carts joins
    assert state(fresh_engine, ("carts", REGION)) == "no_data"
    assert len(triggers(fresh_engine)) == 1
    run_each(fresh_engine, ctx, clock, 60, {**half, "search": LOCATIONS})  # search is back
    assert [p[0] for p in pages(fresh_engine)] == ["page.trigger"]
    run_each(fresh_engine, ctx, clock, 60, dict.fromkeys(components, LOCATIONS))
    assert [(p[0], p[2]) for p in pages(fresh_engine)] == [
        ("page.trigger", triggers(fresh_engine)[0][0]),
        ("page.resolve", triggers(fresh_engine)[0][0])]
    run_each(fresh_engine, ctx, clock, 200, {**half, "search": LOCATIONS})  # a new episode
    keys = [key for key, _ in triggers(fresh_engine)]
    assert len(keys) == 2
    assert keys[1] != keys[0]
    assert keys[1].startswith(f"bellwether-nodata-{REGION}-")


def test_a_stall_of_every_check_is_one_page_of_bellwether_itself(
        fresh_engine: Engine) -> None:
    clock = ManualClock(START)
    ctx = context(fresh_engine, clock)
    components = ("search", "orders", "carts")
    started(fresh_engine, ctx, clock, components)
    run_each(fresh_engine, ctx, clock, 300, {})  # nothing reaches the database
    assert {state(fresh_engine, (c, REGION)) for c in components} == {"no_data"}
    assert [summary for _, summary in triggers(fresh_engine)] == [
        "Bellwether is not receiving checks"]
    run_each(fresh_engine, ctx, clock, 60, dict.fromkeys(components, LOCATIONS))
    assert {state(fresh_engine, (c, REGION)) for c in components} == {"operational"}
    assert [p[0] for p in pages(fresh_engine)] == ["page.trigger", "page.resolve"]
    assert len({p[2] for p in pages(fresh_engine)}) == 1


def test_checks_of_a_disabled_probe_do_not_make_its_pair_operational(
        fresh_engine: Engine) -> None:
    """An agent with the old catalogue keeps probing: once read as "1 of 1" operational."""
    clock = ManualClock(START)
    ctx = context(fresh_engine, clock)
    started(fresh_engine, ctx, clock, ("search", "orders"))
    with session_scope(make_session_factory(fresh_engine)) as session:
        for spec in store.list_probes(session, (REGION,)):
            if spec.component == "search":
                store.save_probe(session, replace(spec, enabled=False), clock.now())
    seen = set()
    for _ in range(4):
        run_each(fresh_engine, ctx, clock, 60, {"search": ("loc-a",), "orders": LOCATIONS})
        seen.add(state(fresh_engine))
    assert seen == {"no_data"}
    assert [summary for _, summary in triggers(fresh_engine)] == [
        f"Bellwether cannot see search in {REGION}"]


def test_an_agent_that_stopped_on_purpose_is_not_silent_and_its_gaps_page_nobody(
        fresh_engine: Engine) -> None:
    clock = ManualClock(START)
    ctx = JobContext(context(fresh_engine, clock).settings, clock,
                     make_session_factory(fresh_engine), {})  # agents only
    factory = make_session_factory(fresh_engine)
    with session_scope(factory) as session:
        for location in LOCATIONS:
            store.record_heartbeat(session, Heartbeat(location, location), "", clock.now())
    seed(fresh_engine)
    for _ in range(6):
        with session_scope(factory) as session:
            for location in LOCATIONS:
                store.record_heartbeat(session, Heartbeat(location, location), "",
                                       clock.now())
        run_each(fresh_engine, ctx, clock, 30, {"search": LOCATIONS})
    assert state(fresh_engine) == "operational"
    with session_scope(factory) as session:
        for location in LOCATIONS:
            store.record_heartbeat(session, Heartbeat(location, location, stopping=True), "",
                                   clock.now())
    run_each(fresh_engine, ctx, clock, 600, {})
    assert state(fresh_engine) == "no_data"
    assert pages(fresh_engine) == []
    with session_scope(factory) as session:
        rows = {a.name: a for a in store.agents(session)}
        assert {agent_status(a.last_seen_at, a.silent_since, clock.now(), 30)
                for a in rows.values()} == {"stopped"}
        store.record_heartbeat(session, Heartbeat("loc-a", "loc-a"), "", clock.now())
    with session_scope(factory) as session:
        back = session.get(Agent, "loc-a")
        assert back is not None
        assert agent_status(back.last_seen_at, back.silent_since, clock.now(), 30) == "ok"
    run_each(fresh_engine, ctx, clock, 30, {"search": ("loc-a",)})  # the others stay stopped
    assert state(fresh_engine) == "operational"
    assert pages(fresh_engine) == []
