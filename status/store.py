"""Queries of the status package: small functions over a Session, one per question.

The live state and its history belong to probes: they are read (and the state changes
claimed) through `probes.store`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session, selectinload

from alerts.outbox import enqueue
from alerts.paging import IncidentPage, page_notices
from commerce.catalog import tier_of
from core.clock import ManualClock
from core.config import Settings
from core.errors import NotFound
from probes import store as probes_store
from sla.model import MaintenanceWindow
from status.announce import announce, incident_event
from status.incidents import Key, Live, Origin, Timeline, Tracked, first_failing_check
from status.maintenance import Window, WindowInput, covers, displayed_state, to_sla_windows
from status.models import (
    Incident,
    IncidentComponent,
    IncidentUpdate,
    Maintenance,
    MaintenanceScope,
)

EVIDENCE_CHECKS = 30


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# --- incidents ------------------------------------------------------------------------------

def get_incident(session: Session, incident_id: int, *, for_update: bool = False) -> Incident:
    """One incident; with `for_update`, locked until the transaction ends (PostgreSQL)."""
    query = select(Incident).where(Incident.id == incident_id)
    if for_update and _is_postgresql(session):
        query = query.with_for_update()
    incident = session.scalar(query)
    if incident is None:
        raise NotFound(f"no incident {incident_id}")
    return incident


def list_incidents(session: Session, *, state: str = "all", limit: int = 50,
                   offset: int = 0) -> list[Incident]:
    """Incidents, newest first; `state` is open, resolved or all."""
    query = (select(Incident).options(selectinload(Incident.components))
             .order_by(Incident.opened_at.desc(), Incident.id.desc()))
    if state == "open":
        query = query.where(Incident.resolved_at.is_(None))
    elif state == "resolved":
        query = query.where(Incident.resolved_at.is_not(None))
    return list(session.scalars(query.limit(limit).offset(offset)))


def open_automatic_incidents(session: Session) -> list[Incident]:
    """Open automatic incidents, locked for this pass (PostgreSQL)."""
    query = (select(Incident).where(Incident.resolved_at.is_(None),
                                    Incident.origin == "automatic")
             .order_by(Incident.id))
    if _is_postgresql(session):
        query = query.with_for_update()
    return list(session.scalars(query))


def keys_with_incident_since(session: Session, since: Mapping[Key, datetime]) -> set[Key]:
    """Which (component, region)s already had an incident for the failure that began at
    `since[key]`: one that is open, or was resolved after that failure began."""
    if not since:
        return set()
    earliest = min(since.values())
    rows = session.execute(
        select(IncidentComponent.component, IncidentComponent.region, Incident.resolved_at)
        .join(Incident)
        .where(or_(Incident.resolved_at.is_(None), Incident.resolved_at >= earliest),
               Incident.origin != Origin.BURN_RATE.value,
               IncidentComponent.component.in_({c for c, _ in since})))
    return {(c, r) for c, r, resolved in rows
            if (c, r) in since and (resolved is None or resolved >= since[(c, r)])}


def tracked_of(incident: Incident) -> tuple[Tracked, ...]:
    return tuple(Tracked(c.component, c.region, c.state, c.first_affected_at, c.recovered_at)
                 for c in incident.components)


def apply_tracked(incident: Incident, tracked: Sequence[Tracked]) -> None:
    """Write followed states back to the incident's component rows."""
    rows = {(c.component, c.region): c for c in incident.components}
    for item in tracked:
        row = rows[item.key]
        row.state, row.recovered_at = item.state, item.recovered_at


def add_components(incident: Incident, affected: Iterable[tuple[str, str, str]],
                   now: datetime) -> int:
    """Add (component, region, state)s the incident does not list yet; how many were new."""
    known = {(c.component, c.region) for c in incident.components}
    added = 0
    for component, region, state in affected:
        if (component, region) not in known:
            incident.components.append(IncidentComponent(
                component=component, region=region, state=state, first_affected_at=now))
            known.add((component, region))
            added += 1
    return added


def add_update(session: Session, incident: Incident, status: str, body: str, now: datetime,
               settings: Settings, *, automatic: bool = False,
               author_id: int | None = None) -> IncidentUpdate:
    """Append a public update (flushed, so its id can number a page) and, in the same
    transaction, the notices to the subscribers of what the incident touches."""
    update_row = IncidentUpdate(status=status, body=body, automatic=automatic,
                                author_id=author_id, created_at=now)
    incident.updates.append(update_row)
    incident.status, incident.updated_at = status, now
    session.flush()
    announce(session, incident_event(incident, update_row, settings.effective_public_url),
             settings, ManualClock(now))
    return update_row


def timeline_of(incident: Incident) -> Timeline:
    return Timeline(incident.first_failure_at, incident.opened_at, incident.acknowledged_at,
                    incident.resolved_at)


@dataclass(frozen=True, slots=True)
class IncidentTimeline:
    """An incident that touched a (component, region), for SLA reports (spec §10)."""

    incident_id: int
    title: str
    impact: str
    origin: str
    timeline: Timeline


def incident_timelines(session: Session, component: str, region: str, start: datetime,
                       end: datetime) -> list[IncidentTimeline]:
    """Incidents affecting (component, region) that were open at some time in [start, end)."""
    rows = session.scalars(
        select(Incident).join(IncidentComponent)
        .where(IncidentComponent.component == component, IncidentComponent.region == region,
               Incident.opened_at < end,
               or_(Incident.resolved_at.is_(None), Incident.resolved_at >= start))
        .order_by(Incident.opened_at, Incident.id).distinct())
    return [IncidentTimeline(i.id, i.title, i.impact, i.origin, timeline_of(i)) for i in rows]


# --- paging ---------------------------------------------------------------------------------

def incident_page(incident: Incident, settings: Settings,
                  first_failures: Sequence[dict[str, Any]] = ()) -> IncidentPage:
    """What PagerDuty hears about an incident: the most important tier affected wins."""
    affected = [(c.component, c.region, c.state) for c in incident.components]
    tier = min((tier_of(c) for c, _, _ in affected), default=1)
    link = f"{settings.effective_public_url}/admin/incidents/{incident.id}"
    return IncidentPage(incident.id, incident.title, incident.impact, tier, affected, link,
                        tuple(first_failures))


def page(session: Session, incident: Incident, action: str, revision: int,
         settings: Settings, now: datetime,
         first_failures: Sequence[dict[str, Any]] = ()) -> int:
    """Enqueue the PagerDuty event in the caller's transaction; how many rows were new."""
    notices = page_notices(incident_page(incident, settings, first_failures), action,
                           revision, settings)
    return enqueue(session, notices, now)


# --- live state (probes' tables) ------------------------------------------------------------

def lock_incident_pass(session: Session) -> bool:
    """One incident pass at a time across workers; False when another holds it.

    On SQLite every transaction begins IMMEDIATE, which serialises writers already.
    """
    if not _is_postgresql(session):
        return True
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(hashtext(:key))"),
                               {"key": "status.incidents"}))


def live_states(session: Session) -> dict[Key, Live]:
    """The measured state of every (component, region)."""
    return {key: Live(row.component, row.region, row.state, row.since)
            for key, row in probes_store.states(session).items()}


def failure_evidence(session: Session, component: str, region: str, until: datetime,
                     ) -> tuple[datetime | None, list[dict[str, Any]]]:
    """When the failure that showed by `until` began (its first failing check), and the
    first few failing checks, for the page."""
    rows = probes_store.recent_checks(session, component, region, limit=EVIDENCE_CHECKS)
    first = first_failing_check(((r.location, r.started_at, r.ok) for r in rows), until)
    failing = sorted((r for r in rows if not r.ok and r.started_at <= until
                      and (first is None or r.started_at >= first)),
                     key=lambda r: r.started_at)[:3]
    return first, [{"component": r.component, "region": r.region, "location": r.location,
                    "at": r.started_at.isoformat(), "status_code": r.status_code,
                    "error": r.error} for r in failing]


# --- maintenance ----------------------------------------------------------------------------

def window_of(row: Maintenance) -> Window:
    scopes = tuple(sorted((s.component, s.region) for s in row.scopes))
    return Window(row.id, row.title, row.message, row.starts_at, row.ends_at, scopes,
                  row.cancelled_at)


def schedule_window(session: Session, window: WindowInput, author_id: int | None,
                    now: datetime) -> Window:
    row = Maintenance(title=window.title, message=window.message, starts_at=window.start,
                      ends_at=window.end, status="scheduled", created_by=author_id,
                      created_at=now,
                      scopes=[MaintenanceScope(component=c, region=r) for c, r in window.scopes])
    session.add(row)
    session.flush()
    return window_of(row)


def get_window(session: Session, window_id: int, *, for_update: bool = False) -> Maintenance:
    query = select(Maintenance).where(Maintenance.id == window_id)
    if for_update and _is_postgresql(session):
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None:
        raise NotFound(f"no maintenance window {window_id}")
    return row


def windows_overlapping(session: Session, start: datetime, end: datetime) -> list[Window]:
    """Windows that were (or are planned to be) open at some time in [start, end)."""
    rows = session.scalars(
        select(Maintenance).options(selectinload(Maintenance.scopes))
        .where(Maintenance.starts_at < end, Maintenance.ends_at > start)
        .order_by(Maintenance.starts_at, Maintenance.id))
    return [window_of(row) for row in rows]


def upcoming_windows(session: Session, now: datetime, limit: int = 200) -> list[Window]:
    """Windows not over yet (cancelled ones included), soonest first."""
    rows = session.scalars(
        select(Maintenance).options(selectinload(Maintenance.scopes))
        .where(Maintenance.ends_at > now).order_by(Maintenance.starts_at).limit(limit))
    return [window_of(row) for row in rows]


def active_windows(session: Session, now: datetime) -> list[Window]:
    """Windows in force at `now` (not cancelled by then)."""
    rows = session.scalars(
        select(Maintenance).options(selectinload(Maintenance.scopes))
        .where(Maintenance.starts_at <= now, Maintenance.ends_at > now,
               or_(Maintenance.cancelled_at.is_(None), Maintenance.cancelled_at > now))
        .order_by(Maintenance.id))
    return [window_of(row) for row in rows]


def maintenance_windows_between(session: Session, start: datetime, end: datetime,
                                ) -> list[MaintenanceWindow]:
    """The SLA's maintenance windows for [start, end): cancelled parts left out."""
    return [sla_window for window in windows_overlapping(session, start, end)
            for sla_window in to_sla_windows(window)]


def covered_keys(keys: Iterable[Key], windows: Sequence[Window], at: datetime) -> set[Key]:
    return {key for key in keys if any(covers(w, key[0], key[1], at) for w in windows)}


def displayed_states(session: Session, now: datetime) -> dict[Key, str]:
    """The state the status page shows per (component, region): maintenance wins."""
    windows = active_windows(session, now)
    return {key: displayed_state(live.state, key[0], key[1], windows, now)
            for key, live in live_states(session).items()}


def last_updates(session: Session, incident_ids: Sequence[int]) -> dict[int, IncidentUpdate]:
    """The newest update of each incident."""
    if not incident_ids:
        return {}
    rows = session.scalars(select(IncidentUpdate)
                           .where(IncidentUpdate.incident_id.in_(incident_ids))
                           .order_by(IncidentUpdate.id))
    return {row.incident_id: row for row in rows}
