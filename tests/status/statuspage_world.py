"""A page in every state Statuspage knows, for the tests that read the Statuspage JSON
and feeds (with Bellwether's own parser and with other people's clients)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete

from core.db import make_session_factory, session_scope
from probes.models import ComponentMinute, ComponentState, StateChange
from status.models import (
    Incident,
    IncidentComponent,
    IncidentUpdate,
    Maintenance,
    MaintenanceScope,
)
from tests.status.conftest import AU, EU, START, US

MINUTE = timedelta(minutes=1)


def clear(engine: Engine) -> None:
    with session_scope(make_session_factory(engine)) as session:
        for model in (IncidentUpdate, IncidentComponent, Incident, MaintenanceScope,
                      Maintenance, ComponentMinute, StateChange, ComponentState):
            session.execute(delete(model))


def minute_row(component: str, region: str, at: datetime) -> ComponentMinute:
    return ComponentMinute(component=component, region=region,
                           minute=int(at.timestamp()) // 60, checks=3, failures=0,
                           degraded=0, locations=3, locations_down=0,
                           latency_p50_ms=10.0, latency_p95_ms=20.0, latency_max_ms=30.0,
                           verdict="up")


def seed(engine: Engine) -> dict[str, Any]:
    """A page in every state Statuspage knows: orders down and search slow in us-central1
    (with their recorded history), three incidents (investigating, monitoring, resolved
    after monitoring, one with an internal note) and three windows (upcoming, in progress,
    completed). Returns the ids and times the tests compare with."""
    t = {"orders_first": START - timedelta(days=20), "orders_down": START - timedelta(minutes=9),
         "search_slow": START - timedelta(minutes=30), "first_failure": START - 12 * MINUTE,
         "opened": START - 10 * MINUTE, "watching": START - 60 * MINUTE,
         "resolved": START - 30 * MINUTE, "scheduled": START - timedelta(days=8),
         "upcoming": START + timedelta(days=8), "active_start": START - 20 * MINUTE,
         "done_start": START - timedelta(hours=5), "done_end": START - timedelta(hours=4)}
    with session_scope(make_session_factory(engine)) as session:
        session.add(minute_row("orders", US, t["orders_first"]))
        session.add(StateChange(component="orders", region=US, from_state="operational",
                                to_state="major_outage", at=t["orders_down"], reason="3 of 3"))
        session.add_all([
            ComponentState(component="orders", region=US, state="major_outage",
                           since=t["orders_down"], reason="3 of 3", evaluated_at=START),
            ComponentState(component="search", region=US, state="degraded_performance",
                           since=t["search_slow"], reason="slow", evaluated_at=START),
            ComponentState(component="carts", region=AU, state="no_data",
                           since=t["search_slow"], reason="no quorum", evaluated_at=START)])
        open_one = Incident(title="Orders failing", impact="critical", status="investigating",
                            origin="automatic", root_component="orders",
                            first_failure_at=t["first_failure"], opened_at=t["opened"],
                            updated_at=t["opened"])
        open_one.components.append(IncidentComponent(
            component="orders", region=US, state="major_outage",
            first_affected_at=t["opened"]))
        open_one.updates.append(IncidentUpdate(status="investigating", body="Orders fail",
                                               created_at=t["opened"], automatic=True))
        open_one.updates.append(IncidentUpdate(status="investigating", internal=True,
                                               body="Acknowledged by Ann (PagerDuty)",
                                               created_at=t["opened"] + MINUTE))
        watched = Incident(title="Search slow", impact="minor", status="monitoring",
                           origin="declared", opened_at=t["search_slow"],
                           updated_at=t["watching"] + timedelta(minutes=31))
        watched.components.append(IncidentComponent(
            component="search", region=US, state="degraded_performance",
            first_affected_at=t["search_slow"]))
        watched.updates.extend([
            IncidentUpdate(status="investigating", body="Searching is slow",
                           created_at=t["search_slow"]),
            IncidentUpdate(status="monitoring", body="A fix is out",
                           created_at=t["watching"] + timedelta(minutes=31))])
        resolved = Incident(title="Carts errors", impact="major", status="resolved",
                            origin="declared", opened_at=t["watching"] - 30 * MINUTE,
                            updated_at=t["resolved"], resolved_at=t["resolved"])
        resolved.components.append(IncidentComponent(
            component="carts", region=EU, state="partial_outage",
            first_affected_at=t["watching"] - 30 * MINUTE, recovered_at=t["watching"]))
        resolved.updates.extend([
            IncidentUpdate(status="identified", body="Carts fail for some",
                           created_at=t["watching"] - 30 * MINUTE),
            IncidentUpdate(status="monitoring", body="Fixed, watching", created_at=t["watching"]),
            IncidentUpdate(status="resolved", body="All good", created_at=t["resolved"])])
        windows = {
            "upcoming": Maintenance(title="Database upgrade", message="Writes pause",
                                    starts_at=t["upcoming"], ends_at=t["upcoming"] + 60 * MINUTE,
                                    created_at=t["scheduled"]),
            "active": Maintenance(title="Search reindex", message="Search is read-only",
                                  starts_at=t["active_start"],
                                  ends_at=t["active_start"] + 120 * MINUTE,
                                  created_at=t["scheduled"] - timedelta(days=1)),
            "done": Maintenance(title="Network work", message="Short blips",
                                starts_at=t["done_start"], ends_at=t["done_end"],
                                created_at=t["scheduled"] - timedelta(days=2))}
        windows["upcoming"].scopes.append(MaintenanceScope(component="orders", region=EU))
        windows["active"].scopes.append(MaintenanceScope(component="import", region=EU))
        windows["done"].scopes.append(MaintenanceScope(component="", region=AU))
        session.add_all([open_one, watched, resolved, *windows.values()])
        session.flush()
        ids = {"open": open_one.id, "watched": watched.id, "resolved": resolved.id,
               **{name: w.id for name, w in windows.items()}}
    return {"ids": ids, "t": t}
