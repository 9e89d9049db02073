"""The incident job against a real database: one page per outage, grouped by root cause,
resolved once after the cool-down, silent inside maintenance windows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from alerts.models import OutboxRow
from core.db import make_session_factory, session_scope
from core.scheduler import JobContext
from probes import store as probes_store
from probes.checks import CheckResult
from probes.evaluate import Evaluation, State
from probes.models import StateChange
from status import actions, store
from status.declared import TakeOver
from status.incidents import IllegalTransition
from status.jobs import track_incidents
from status.maintenance import WindowInput
from status.models import Incident
from tests.status.conftest import AU, EU, START, US, status_settings
from tests.support.clock import ManualClock

EVERYTHING = ("auth", "products", "search", "carts", "orders", "messages", "audit-log",
              "import", "transaction")
REGIONS = (EU, US, AU)
COOLDOWN = timedelta(seconds=90)  # three probe intervals of 30 s


@pytest.fixture
def ctx(fresh_engine: Engine, clock: ManualClock, tmp_path: Path) -> JobContext:
    """All components operational an hour before START, nothing else known."""
    settings = status_settings(tmp_path, "")
    context = JobContext(settings, clock, make_session_factory(fresh_engine))
    set_states(context, START - timedelta(hours=1), "operational",
               [(c, r) for c in EVERYTHING for r in REGIONS])
    return context


def set_states(ctx: JobContext, at: datetime, state: str,
               keys: Iterable[tuple[str, str]]) -> None:
    """What the probes' evaluation would record: the state, and a change if it is one."""
    with session_scope(ctx.session_factory) as session:
        known = probes_store.states(session)
        for component, region in keys:
            probes_store.record_state(session, component, region,
                                      Evaluation(State(state), "test"), at,
                                      known.get((component, region)))


def run_at(ctx: JobContext, clock: ManualClock, at: datetime) -> int:
    clock.advance(at - clock.now())
    return track_incidents(ctx)


def incidents(ctx: JobContext) -> list[Incident]:
    with session_scope(ctx.session_factory) as session:
        rows = list(session.scalars(select(Incident).order_by(Incident.id)))
        for row in rows:
            _ = (row.components, row.updates)
        return rows


def pages(ctx: JobContext) -> list[tuple[str, str, dict[str, Any]]]:
    with session_scope(ctx.session_factory) as session:
        return [(row.event_type, row.key, row.payload) for row in
                session.scalars(select(OutboxRow).order_by(OutboxRow.id))]


def rows(ctx: JobContext) -> list[tuple[str, OutboxRow, dict[str, Any]]]:
    with session_scope(ctx.session_factory) as session:
        return [(row.event_type, row, row.payload) for row in
                session.scalars(select(OutboxRow).order_by(OutboxRow.id))]


def region(name: str, *components: str) -> list[tuple[str, str]]:
    return [(c, name) for c in components or EVERYTHING]


def test_a_region_outage_pages_once_and_resolves_once(ctx: JobContext,
                                                      clock: ManualClock) -> None:
    set_states(ctx, START, "major_outage", region(EU))
    assert run_at(ctx, clock, START + timedelta(seconds=1)) > 0
    assert run_at(ctx, clock, START + timedelta(seconds=2)) == 0
    [incident] = incidents(ctx)
    assert incident.title == "europe-west1.gcp unavailable"  # every component fails there
    assert "The root cause is auth." in incident.public_message
    assert (incident.origin, incident.root_component, incident.impact) == (
        "automatic", "auth", "critical")
    assert {(c.component, c.region) for c in incident.components} == set(region(EU))
    [(event, _key, payload)] = pages(ctx)
    assert (event, payload["dedup_key"]) == ("page.trigger",
                                             f"bellwether-incident-{incident.id}")
    assert payload["severity"] == "critical"
    assert len(payload["custom_details"]["affected"]) == len(EVERYTHING)

    back = START + timedelta(minutes=5)
    set_states(ctx, back, "operational", region(EU))
    run_at(ctx, clock, back + COOLDOWN - timedelta(seconds=1))
    assert incidents(ctx)[0].resolved_at is None
    run_at(ctx, clock, back + COOLDOWN)
    run_at(ctx, clock, back + COOLDOWN + timedelta(minutes=5))
    [incident] = incidents(ctx)
    assert incident.resolved_at == back + COOLDOWN
    assert incident.status == "resolved"
    assert incident.updates[-1].automatic
    assert "resolved" in incident.updates[-1].body
    assert [e for e, _, _ in pages(ctx)] == ["page.trigger", "page.resolve"]


def test_auth_down_is_one_incident_named_after_auth(ctx: JobContext,
                                                    clock: ManualClock) -> None:
    dependents = [c for c in EVERYTHING if c != "auth"]
    set_states(ctx, START, "major_outage", region(EU, "auth", *dependents))
    run_at(ctx, clock, START + timedelta(seconds=1))
    [incident] = incidents(ctx)
    assert (incident.title, incident.root_component) == (
        "europe-west1.gcp unavailable", "auth")
    assert len(incident.components) == len(EVERYTHING)
    assert len(pages(ctx)) == 1


def test_auth_alone_down_is_named_after_auth(ctx: JobContext, clock: ManualClock) -> None:
    set_states(ctx, START, "major_outage", region(EU, "auth", "orders"))
    run_at(ctx, clock, START + timedelta(seconds=1))
    [incident] = incidents(ctx)
    assert incident.title == "auth unavailable in europe-west1.gcp"


def test_dependents_failing_first_end_up_in_the_incident_of_auth(ctx: JobContext,
                                                                 clock: ManualClock) -> None:
    set_states(ctx, START, "major_outage", region(EU, "orders", "transaction"))
    run_at(ctx, clock, START + timedelta(seconds=1))
    set_states(ctx, START + timedelta(seconds=2), "major_outage",
               region(EU, "auth", "products", "carts", "search", "messages"))
    run_at(ctx, clock, START + timedelta(seconds=3))
    [incident] = incidents(ctx)
    assert (incident.root_component, incident.title) == (
        "auth", "auth unavailable in europe-west1.gcp")
    assert len(incident.components) == 7


def test_one_service_failing_in_two_regions_is_one_incident(ctx: JobContext,
                                                            clock: ManualClock) -> None:
    set_states(ctx, START, "major_outage", [("search", EU), ("search", US)])
    run_at(ctx, clock, START + timedelta(seconds=1))
    [incident] = incidents(ctx)
    assert incident.title == "search unavailable in europe-west1.gcp, us-central1.gcp"
    assert len(pages(ctx)) == 1


def test_a_zone_failure_pages_nothing(ctx: JobContext, clock: ManualClock) -> None:
    # The router sends traffic to the healthy zones: checks keep passing, no state changes.
    with session_scope(ctx.session_factory) as session:
        probes_store.save_checks(session, [
            CheckResult(probe=f"orders.{EU}", component="orders", region=EU, location=loc,
                        intended_at=START, started_at=START, ok=True, latency_ms=40.0)
            for loc in ("loc-a", "loc-b", "loc-c")], START)
    set_states(ctx, START, "degraded_performance", [("orders", EU)])
    run_at(ctx, clock, START + timedelta(seconds=1))
    assert incidents(ctx) == []
    assert pages(ctx) == []


def test_escalation_on_the_same_key_is_an_update_not_a_second_page(
        ctx: JobContext, clock: ManualClock) -> None:
    set_states(ctx, START, "partial_outage", [("search", EU)])
    run_at(ctx, clock, START + timedelta(seconds=1))
    assert incidents(ctx)[0].impact == "major"
    set_states(ctx, START + timedelta(seconds=30), "major_outage", [("search", EU)])
    run_at(ctx, clock, START + timedelta(seconds=31))
    assert incidents(ctx)[0].impact == "critical"
    set_states(ctx, START + timedelta(seconds=60), "major_outage", [("search", US)])
    run_at(ctx, clock, START + timedelta(seconds=61))
    run_at(ctx, clock, START + timedelta(seconds=62))
    [incident] = incidents(ctx)
    assert [(e, p["dedup_key"]) for e, _, p in pages(ctx)] == [
        ("page.trigger", f"bellwether-incident-{incident.id}")]
    assert "Now also affecting search (us-central1.gcp)" in incident.updates[-1].body
    assert len(incident.components) == 2


def test_a_tier2_root_escalating_to_tier1_pages_the_tier1_key_and_resolves_both(
        ctx: JobContext, clock: ManualClock) -> None:
    ctx.settings = replace(ctx.settings, pagerduty_routing_key_tier1="tier1-key",
                           pagerduty_routing_key_tier2="tier2-key")
    set_states(ctx, START, "major_outage", [("import", EU)])
    run_at(ctx, clock, START + timedelta(seconds=1))
    set_states(ctx, START + timedelta(seconds=20), "major_outage",
               [("auth", EU), ("audit-log", EU)])
    run_at(ctx, clock, START + timedelta(seconds=21))
    [incident] = incidents(ctx)
    assert incident.root_component == "auth"
    base = f"bellwether-incident-{incident.id}"
    set_states(ctx, START + timedelta(minutes=2), "operational",
               [("import", EU), ("auth", EU), ("audit-log", EU)])
    run_at(ctx, clock, START + timedelta(minutes=2) + COOLDOWN)
    sent = [(e, r.recipient, p["dedup_key"]) for e, r, p in rows(ctx)]
    assert sent == [("page.trigger", "tier2-key", base),
                    ("page.trigger", "tier1-key", f"{base}-tier1"),
                    ("page.resolve", "tier2-key", base),
                    ("page.resolve", "tier1-key", f"{base}-tier1")]


def test_an_acknowledgement_reaches_the_outbox_once(ctx: JobContext,
                                                    clock: ManualClock) -> None:
    set_states(ctx, START, "major_outage", [("orders", EU)])
    run_at(ctx, clock, START + timedelta(seconds=1))
    [incident] = incidents(ctx)
    with session_scope(ctx.session_factory) as session:
        actions.acknowledge(session, incident.id, None, START + timedelta(minutes=4),
                            ctx.settings)
    with session_scope(ctx.session_factory) as session, pytest.raises(IllegalTransition):
        actions.acknowledge(session, incident.id, None, START + timedelta(minutes=5),
                            ctx.settings)
    sent = pages(ctx)
    assert [e for e, _, _ in sent] == ["page.trigger", "page.acknowledge"]
    assert sent[1][2]["dedup_key"] == f"bellwether-incident-{incident.id}"


def schedule(ctx: JobContext, start: datetime, end: datetime, regions: tuple[str, ...] = (),
             components: tuple[str, ...] = ()) -> int:
    with session_scope(ctx.session_factory) as session:
        window = actions.schedule_maintenance(session, WindowInput(
            "Upgrade", "", start, end, components, regions), None, start)
        return window.id


def test_nothing_pages_inside_a_maintenance_window(ctx: JobContext,
                                                   clock: ManualClock) -> None:
    schedule(ctx, START - timedelta(minutes=1), START + timedelta(hours=1), regions=(EU,))
    set_states(ctx, START, "major_outage", region(EU))
    run_at(ctx, clock, START + timedelta(seconds=1))
    run_at(ctx, clock, START + timedelta(minutes=30))
    assert incidents(ctx) == []
    assert pages(ctx) == []
    with session_scope(ctx.session_factory) as session:
        assert not list(session.scalars(select(StateChange).where(
            StateChange.handled.is_(False))))
        assert store.displayed_states(session, clock.now())[("orders", EU)] == \
            "under_maintenance"
        assert store.displayed_states(session, clock.now())[("orders", US)] == "operational"
    # Still failing once the window is over: now it is an outage, and it pages.
    run_at(ctx, clock, START + timedelta(hours=1))
    assert len(incidents(ctx)) == 1
    assert [e for e, _, _ in pages(ctx)] == ["page.trigger"]


def test_a_cancelled_window_no_longer_silences(ctx: JobContext, clock: ManualClock) -> None:
    window_id = schedule(ctx, START, START + timedelta(hours=1), components=("orders",))
    with session_scope(ctx.session_factory) as session:
        actions.cancel_maintenance(session, window_id, START + timedelta(minutes=10))
    set_states(ctx, START + timedelta(minutes=11), "major_outage", [("orders", EU)])
    run_at(ctx, clock, START + timedelta(minutes=11, seconds=1))
    assert len(pages(ctx)) == 1
    with session_scope(ctx.session_factory) as session:
        [sla_window] = store.maintenance_windows_between(session, START, START + timedelta(
            days=1))
    assert (sla_window.start, sla_window.end) == (START, START + timedelta(minutes=10))
    assert sla_window.components == frozenset({"orders"})


def test_timeline_figures_from_first_failing_check_to_resolution(
        ctx: JobContext, clock: ManualClock) -> None:
    first = START - timedelta(seconds=60)
    with session_scope(ctx.session_factory) as session:
        probes_store.save_checks(session, [
            CheckResult(probe=f"orders.{EU}", component="orders", region=EU, location=loc,
                        intended_at=at, started_at=at, ok=False, latency_ms=5000.0,
                        error="connection refused")
            for loc in ("loc-a", "loc-b") for at in (first, first + timedelta(seconds=30))],
            START)
    set_states(ctx, START, "major_outage", [("orders", EU)])
    run_at(ctx, clock, START + timedelta(seconds=1))
    [incident] = incidents(ctx)
    with session_scope(ctx.session_factory) as session:
        actions.acknowledge(session, incident.id, None, START + timedelta(minutes=7),
                            ctx.settings)
    set_states(ctx, START + timedelta(minutes=20), "operational", [("orders", EU)])
    run_at(ctx, clock, START + timedelta(minutes=20) + COOLDOWN)
    [(_, _, trigger), _, _] = pages(ctx)
    assert trigger["custom_details"]["first_failing_checks"][0]["at"] == first.isoformat()
    with session_scope(ctx.session_factory) as session:
        [found] = store.incident_timelines(session, "orders", EU, START, START + timedelta(
            hours=1))
        assert store.incident_timelines(session, "orders", US, START, START + timedelta(
            hours=1)) == []
        assert store.incident_timelines(session, "orders", EU, START + timedelta(hours=1),
                                        START + timedelta(hours=2)) == []
    timeline = found.timeline
    assert timeline.first_failure_at == first
    assert timeline.time_to_detect == timedelta(seconds=61)
    assert timeline.time_to_acknowledge == timedelta(minutes=7) - timedelta(seconds=1)
    assert timeline.time_to_resolve == timedelta(minutes=20) + COOLDOWN - timedelta(seconds=1)


def test_a_taken_over_incident_keeps_its_name_but_tracks_components(
        ctx: JobContext, clock: ManualClock) -> None:
    set_states(ctx, START, "major_outage", [("auth", EU)])
    run_at(ctx, clock, START + timedelta(seconds=1))
    [incident] = incidents(ctx)
    with session_scope(ctx.session_factory) as session:
        actions.take_over(session, incident.id, TakeOver("Login problems", "We know."), None,
                          START + timedelta(seconds=5), ctx.settings)
    set_states(ctx, START + timedelta(seconds=30), "major_outage", [("orders", EU)])
    run_at(ctx, clock, START + timedelta(seconds=31))
    [incident] = incidents(ctx)
    assert (incident.title, incident.public_message) == ("Login problems", "We know.")
    assert {c.component for c in incident.components} == {"auth", "orders"}
    assert len(pages(ctx)) == 1  # the same key: the open alert links to the incident


def test_a_manual_resolution_is_not_undone_while_the_same_failure_lasts(
        ctx: JobContext, clock: ManualClock) -> None:
    set_states(ctx, START, "major_outage", [("carts", EU)])
    run_at(ctx, clock, START + timedelta(seconds=1))
    [incident] = incidents(ctx)
    with session_scope(ctx.session_factory) as session:
        actions.resolve(session, incident.id, "Known, fixing.", None,
                        START + timedelta(minutes=1), ctx.settings)
    run_at(ctx, clock, START + timedelta(minutes=2))
    assert len(incidents(ctx)) == 1
    set_states(ctx, START + timedelta(minutes=3), "operational", [("carts", EU)])
    set_states(ctx, START + timedelta(minutes=4), "major_outage", [("carts", EU)])
    run_at(ctx, clock, START + timedelta(minutes=4, seconds=1))
    [again] = incidents(ctx)  # within incident_reopen_s: the same episode, reopened
    assert (again.id, again.resolved_at, again.status) == (incident.id, None, "investigating")
    # PagerDuty never got the resolve (still unsent): it is taken back, no second trigger.
    assert [(e, r.status) for e, r, _ in rows(ctx)] == [("page.trigger", "pending"),
                                                        ("page.resolve", "withdrawn")]


def test_state_changes_are_claimed_once(ctx: JobContext) -> None:
    set_states(ctx, START, "major_outage", [("orders", EU)])
    with session_scope(ctx.session_factory) as session:
        assert [c.to_state for c in probes_store.claim_state_changes(session)] == ["major_outage"]
    with session_scope(ctx.session_factory) as session:
        assert probes_store.claim_state_changes(session) == []


def test_a_second_worker_skips_the_pass_while_one_runs(ctx: JobContext,
                                                       clock: ManualClock) -> None:
    set_states(ctx, START, "major_outage", [("orders", EU)])
    with session_scope(ctx.session_factory) as first:
        if first.get_bind().dialect.name != "postgresql":
            pytest.skip("SQLite has one writer: BEGIN IMMEDIATE serialises passes")
        assert store.lock_incident_pass(first)
        assert run_at(ctx, clock, START + timedelta(seconds=1)) == 0
    assert run_at(ctx, clock, START + timedelta(seconds=2)) > 0
    assert len(incidents(ctx)) == 1


def test_a_claim_in_progress_is_skipped_by_another_worker(ctx: JobContext) -> None:
    set_states(ctx, START, "major_outage", [("orders", EU), ("carts", US)])
    with session_scope(ctx.session_factory) as first:
        if first.get_bind().dialect.name != "postgresql":
            pytest.skip("SQLite has one writer: the second claim would wait, not interleave")
        assert len(probes_store.claim_state_changes(first)) == 2
        with session_scope(ctx.session_factory) as second:
            assert probes_store.claim_state_changes(second) == []
        first.rollback()  # the first worker dies before committing: the changes come back
    with session_scope(ctx.session_factory) as third:
        assert len(probes_store.claim_state_changes(third)) == 2


def test_an_open_burn_rate_alert_never_stands_in_for_an_outage_incident(
        ctx: JobContext, clock: ManualClock) -> None:
    from status.models import IncidentComponent

    with session_scope(ctx.session_factory) as session:
        alert = Incident(title="Error budget burning fast: search", impact="major",
                         status="investigating", origin="burn_rate", root_component="search",
                         opened_at=START, updated_at=START)
        alert.components.append(IncidentComponent(component="search", region=EU,
                                                  state="operational", first_affected_at=START))
        session.add(alert)
    set_states(ctx, START + timedelta(seconds=10), "major_outage", [("search", EU)])
    run_at(ctx, clock, START + timedelta(seconds=11))
    outages = [i for i in incidents(ctx) if i.origin == "automatic"]
    assert [(i.root_component, i.title) for i in outages] == [
        ("search", f"search unavailable in {EU}")]


def test_a_pass_that_only_follows_an_outage_writes_those_columns_in_a_short_lock(
        ctx: JobContext, clock: ManualClock, fresh_engine: Engine) -> None:
    """During an outage almost every pass moves `last_bad_at` and nothing else: on SQLite
    it is worked out in a read scope, and the write lock then covers one read (has any
    open incident been edited meanwhile?) and the UPDATE; a pass that adds rows takes the
    lock for the whole pass, as before. PostgreSQL runs every pass in one transaction."""
    from tests.support.statements import statements, writes

    set_states(ctx, START, "major_outage", region(EU, "search"))
    run_at(ctx, clock, START + timedelta(seconds=1))
    [opened] = incidents(ctx)
    with statements(fresh_engine) as seen:
        run_at(ctx, clock, START + timedelta(seconds=2))
    [incident] = incidents(ctx)
    assert incident.last_bad_at == START + timedelta(seconds=2)
    assert len(incident.updates) == len(opened.updates)
    if fresh_engine.dialect.name != "sqlite":
        return
    in_lock = seen[next(i for i, s in enumerate(seen) if s.startswith("BEGIN IMMEDIATE")):]
    assert [s for s in in_lock if s.lstrip().upper().startswith("SELECT")] == [in_lock[1]]
    assert writes(in_lock) == ["UPDATE incidents"]
    assert sum(s.startswith("BEGIN IMMEDIATE") for s in seen) == 1
