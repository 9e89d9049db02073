"""Typed builders for report tests: rollups inserted directly, maintenance, incidents, users."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from core.auth import create_token, create_user
from core.models import Role, User
from probes import store as probe_store
from probes.models import ComponentMinute
from reports.models import Customer, CustomerProject
from status.models import Incident, IncidentComponent, Maintenance, MaintenanceScope

OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)
EU = "europe-west1.gcp"
US = "us-central1.gcp"

#: A rollup to insert: (minute, verdict, locations).
Rollup = tuple[int, str, int]


def insert_rollups(session: Session, component: str, region: str,
                   rollups: Iterable[Rollup]) -> None:
    """Minute rollups straight into the table, and their days recounted (what the rollup job
    would have written)."""
    rollups = list(rollups)
    rows = [{"component": component, "region": region, "minute": minute, "checks": 2 * n,
             "failures": 2 * n if verdict == "down" else 0, "degraded": 0, "locations": n,
             "locations_down": n if verdict == "down" else 0, "latency_p50_ms": 40.0,
             "latency_p95_ms": 80.0, "latency_max_ms": 90.0, "verdict": verdict}
            for minute, verdict, n in rollups]
    if rows:
        session.execute(insert(ComponentMinute), rows)
        minutes = [minute for minute, _, _ in rollups]
        probe_store.recount_rollup_days(session, component, region, min(minutes),
                                        max(minutes))


def add_maintenance(session: Session, start: datetime, end: datetime,
                    scopes: Sequence[tuple[str, str]] = (("", ""),), *,
                    cancelled_at: datetime | None = None) -> Maintenance:
    """A maintenance window; `scopes` are (component, region), '' meaning all."""
    row = Maintenance(title="planned work", starts_at=start, ends_at=end, created_at=start,
                      status="scheduled", cancelled_at=cancelled_at)
    row.scopes = [MaintenanceScope(component=c, region=r) for c, r in scopes]
    session.add(row)
    session.flush()
    return row


def add_incident(session: Session, pairs: Sequence[tuple[str, str]], opened_at: datetime,
                 *, first_failure_at: datetime | None = None,
                 acknowledged_at: datetime | None = None, resolved_at: datetime | None = None,
                 origin: str = "auto", title: str = "Orders failing") -> Incident:
    incident = Incident(title=title, impact="major", status="resolved" if resolved_at else
                        "investigating", origin=origin, opened_at=opened_at,
                        first_failure_at=first_failure_at, acknowledged_at=acknowledged_at,
                        resolved_at=resolved_at, updated_at=opened_at)
    incident.components = [IncidentComponent(component=c, region=r, state="major_outage",
                                             first_affected_at=first_failure_at or opened_at,
                                             recovered_at=resolved_at) for c, r in pairs]
    session.add(incident)
    session.flush()
    return incident


def add_user(session: Session, role: Role) -> User:
    return create_user(session, email=f"{role.value}-{uuid.uuid4().hex[:8]}@example.test",
                       role=role, now=OCTOBER)


def add_user_with_token(session: Session, role: Role) -> tuple[User, str]:
    user = add_user(session, role)
    return user, create_token(session, user, name="test", now=OCTOBER)


def add_customer(session: Session, name: str, projects: Sequence[tuple[str, str]],
                 *, plan: str = "standard", manager: User | None = None,
                 fee_cents: int | None = None, period_basis: str = "calendar") -> Customer:
    customer = Customer(name=name, plan=plan, period_basis=period_basis,
                        account_manager_id=manager.id if manager else None,
                        monthly_fee_cents=fee_cents, created_at=OCTOBER)
    customer.projects = [CustomerProject(project_key=k, region=r) for k, r in projects]
    session.add(customer)
    session.flush()
    return customer
