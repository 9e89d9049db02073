"""The burn-rate job, driven by a moved clock over minute rollups: it pages through the
incident path, opens a ticket-level notice, resolves both when they stop holding, and never
enqueues anything twice."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from alerts.models import OutboxRow
from core.db import make_session_factory, session_scope
from core.scheduler import JobContext
from probes import rollup_reads
from reports import store
from reports.budgets import ALERT_SPAN_MINUTES, ALERT_WINDOWS, budget_statuses
from reports.jobs import evaluate_burn_rates
from reports.series import down_minutes
from sla.budget import AlertLevel, window_burn_rate
from sla.period import minute_of
from status.models import Incident, IncidentComponent
from tests.reports.builders import EU, add_customer, add_maintenance, insert_rollups
from tests.reports.conftest import TIER1_KEY, TIER2_KEY, report_settings
from tests.support.clock import ManualClock

T0 = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)


def context(engine: Engine, clock: ManualClock, tmp_path: Path) -> JobContext:
    settings = replace(report_settings(tmp_path, str(engine.url)), regions=(EU,))
    return JobContext(settings, clock, make_session_factory(engine))


def rollups(engine: Engine, component: str, start: datetime, minutes: int,
            verdict: str) -> None:
    first = minute_of(start)
    with session_scope(make_session_factory(engine)) as session:
        insert_rollups(session, component, EU, [(m, verdict, 3)
                                                for m in range(first, first + minutes)])


def outbox(engine: Engine) -> list[tuple[str, str, str, str]]:
    with session_scope(make_session_factory(engine)) as session:
        return [(row.key, row.recipient, row.payload["severity"], row.payload["dedup_key"])
                for row in session.scalars(select(OutboxRow).order_by(OutboxRow.id))]


def burn_incidents(engine: Engine) -> dict[str, tuple[int, bool]]:
    """impact → (incident id, resolved) of the burn-rate incidents."""
    with session_scope(make_session_factory(engine)) as session:
        return {row.impact: (row.id, row.resolved_at is not None)
                for row in session.scalars(select(Incident).where(
                    Incident.origin == store.BURN_RATE_ORIGIN))}


def test_a_fast_burn_pages_and_opens_a_ticket_then_both_resolve_as_the_clock_moves(
        fresh_engine: Engine, tmp_path: Path) -> None:
    clock = ManualClock(T0)
    ctx = context(fresh_engine, clock, tmp_path)
    rollups(fresh_engine, "orders", T0 - timedelta(days=3), 3 * 1440, "up")
    assert evaluate_burn_rates(ctx) == 0
    rollups(fresh_engine, "orders", T0, 10, "down")
    rollups(fresh_engine, "orders", T0 + timedelta(minutes=10), 8 * 60, "up")
    clock.advance(timedelta(minutes=10))
    assert evaluate_burn_rates(ctx) == 2
    incidents = burn_incidents(fresh_engine)
    page, ticket = incidents["major"][0], incidents["minor"][0]
    assert [row[1:] for row in outbox(fresh_engine)] == [
        (TIER1_KEY, "critical", f"bellwether-incident-{page}"),
        (TIER2_KEY, "warning", f"bellwether-incident-{ticket}")]
    clock.advance(timedelta(minutes=1))
    assert evaluate_burn_rates(ctx) == 0  # still burning: nothing new
    clock.advance(timedelta(minutes=30))  # 5 min and 30 min windows clean again
    assert evaluate_burn_rates(ctx) == 1
    assert burn_incidents(fresh_engine) == {"major": (page, True), "minor": (ticket, False)}
    assert outbox(fresh_engine)[-1] == (f"pd:incident-{page}:resolve", TIER1_KEY, "critical",
                                        f"bellwether-incident-{page}")
    clock.advance(timedelta(hours=6))  # the 6 h window no longer holds the outage
    assert evaluate_burn_rates(ctx) == 1
    assert burn_incidents(fresh_engine) == {"major": (page, True), "minor": (ticket, True)}
    assert [key for key, *_ in outbox(fresh_engine)][-1] == f"pd:incident-{ticket}:resolve"
    assert evaluate_burn_rates(ctx) == 0
    assert len(outbox(fresh_engine)) == 4


def test_a_burn_an_outage_explains_is_a_note_on_that_incident_not_a_page(
        fresh_engine: Engine, tmp_path: Path) -> None:
    clock = ManualClock(T0 + timedelta(minutes=10))
    ctx = context(fresh_engine, clock, tmp_path)
    rollups(fresh_engine, "orders", T0 - timedelta(days=3), 3 * 1440, "up")
    rollups(fresh_engine, "auth", T0 - timedelta(days=3), 3 * 1440, "up")
    rollups(fresh_engine, "orders", T0, 10, "down")
    rollups(fresh_engine, "auth", T0, 10, "down")
    with session_scope(make_session_factory(fresh_engine)) as session:
        outage = Incident(title="auth unavailable", impact="critical", status="monitoring",
                          origin="automatic", root_component="auth", opened_at=T0,
                          updated_at=T0, resolved_at=T0 + timedelta(minutes=9))
        outage.components.append(IncidentComponent(component="auth", region=EU,
                                                   state="operational", first_affected_at=T0))
        session.add(outage)
    assert evaluate_burn_rates(ctx) == 4  # page and ticket notes for auth and orders
    assert burn_incidents(fresh_engine) == {}
    assert outbox(fresh_engine) == []
    with session_scope(make_session_factory(fresh_engine)) as session:
        [only] = session.scalars(select(Incident))
        notes = [u.body for u in only.updates if u.internal]
    assert len(notes) == 4
    assert all("no separate page" in n for n in notes)
    clock.advance(timedelta(minutes=1))
    assert evaluate_burn_rates(ctx) == 0  # noted once


def test_slow_burns_in_one_region_page_once_and_again_at_most_once_a_day(
        fresh_engine: Engine, tmp_path: Path) -> None:
    clock = ManualClock(T0 + timedelta(minutes=10))
    ctx = context(fresh_engine, clock, tmp_path)
    for component in ("orders", "search"):
        rollups(fresh_engine, component, T0 - timedelta(days=3), 3 * 1440, "up")
        rollups(fresh_engine, component, T0, 10, "down")
        rollups(fresh_engine, component, T0 + timedelta(minutes=10), 40, "up")
    evaluate_burn_rates(ctx)
    page = burn_incidents(fresh_engine)["major"][0]
    with session_scope(make_session_factory(fresh_engine)) as session:
        incident = session.get(Incident, page)
        assert incident is not None
        assert {c.component for c in incident.components} == {"orders", "search"}
    triggers = [row for row in outbox(fresh_engine) if ":trigger:" in row[0]]
    assert [row[1] for row in triggers] == [TIER1_KEY, TIER2_KEY]  # page and ticket, once
    clock.advance(timedelta(minutes=40))
    evaluate_burn_rates(ctx)
    assert burn_incidents(fresh_engine)["major"] == (page, True)
    rollups(fresh_engine, "orders", T0 + timedelta(minutes=50), 10, "down")
    clock.advance(timedelta(minutes=10))  # burning again the same day
    evaluate_burn_rates(ctx)
    assert burn_incidents(fresh_engine)["major"] == (page, False)  # reopened
    assert len([row for row in outbox(fresh_engine) if ":trigger:" in row[0]]) == 2


def test_downtime_under_maintenance_never_pages(fresh_engine: Engine, tmp_path: Path) -> None:
    clock = ManualClock(T0 + timedelta(minutes=20))
    ctx = context(fresh_engine, clock, tmp_path)
    rollups(fresh_engine, "orders", T0, 20, "down")
    with session_scope(make_session_factory(fresh_engine)) as session:
        add_maintenance(session, T0 - timedelta(minutes=5), T0 + timedelta(minutes=25),
                        [("orders", EU)])
    assert evaluate_burn_rates(ctx) == 0
    assert outbox(fresh_engine) == []


def test_a_premium_customer_in_the_region_makes_the_budget_stricter(
        db_session: Session) -> None:
    insert_rollups(db_session, "import", EU, [(minute_of(T0) - 3, "down", 3)])
    [standard] = [s for s in budget_statuses(db_session, (EU,), T0) if s.line.component ==
                  "import"]
    assert (standard.plan, standard.alert) == ("standard", AlertLevel.NONE)  # 99.5 %: fine
    add_customer(db_session, "Premium shop", [("premium-shop", EU)], plan="premium")
    [premium] = [s for s in budget_statuses(db_session, (EU,), T0) if s.line.component ==
                 "import"]
    assert (premium.plan, premium.alert) == ("premium", AlertLevel.PAGE)  # 99.9 %: page
    assert premium.line.budget_remaining_minutes == premium.line.budget_minutes - 1


def test_burn_rates_from_the_down_minutes_equal_those_from_every_verdict(
        db_session: Session) -> None:
    rng = random.Random(4)
    end = minute_of(T0)
    insert_rollups(db_session, "search", EU, [
        (m, "down" if rng.random() < 0.05 else "up", rng.choice((1, 3)))
        for m in range(end - 4 * 1440, end + 5) if rng.random() < 0.8])
    down = down_minutes(db_session, "search", EU, end - ALERT_SPAN_MINUTES, end)
    every = rollup_reads.verdicts_from_rollups(db_session, "search", EU, end - 43200, end)
    for span in ALERT_WINDOWS:
        for target in (Decimal("99.9"), Decimal("99.99"), Decimal("99.5")):
            assert window_burn_rate(down, T0, span, target) == \
                window_burn_rate(every.verdict_by_minute, T0, span, target)
