"""Queries of the status package: small functions over a Session, one per question.

The live state and its history belong to probes: they are read (and the state changes
claimed) through `probes.store`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session, selectinload

from alerts.outbox import Notice, enqueue
from alerts.paging import (
    IncidentPage,
    PageTarget,
    escalation_notices,
    escalation_resolve_prefix,
    page_notice,
    resolve_prefix,
    trigger_target,
)
from alerts.store import withdraw_unsent
from commerce.catalog import tier_of
from core.clock import FixedClock
from core.config import Settings
from core.errors import NotFound
from probes import rollup_reads
from probes import store as probes_store
from sla.model import MaintenanceWindow, MinuteVerdict
from status.announce import announce, incident_event
from status.incidents import (
    FAILING_STATES,
    IncidentStatus,
    Key,
    Live,
    Origin,
    Timeline,
    Tracked,
    first_failing_check,
)
from status.maintenance import (
    Booked,
    Window,
    WindowInput,
    covers,
    displayed_state,
    to_sla_windows,
)
from status.models import (
    Incident,
    IncidentComponent,
    IncidentPageRow,
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


def incident_pass_needed(session: Session) -> bool:
    """Whether the incident job has anything to do: a state change to handle, an open
    automatic incident to follow (or to tell subscribers of), or a failing pair. A quiet
    instance answers with three small reads and never takes the write lock."""
    if probes_store.has_unhandled_state_changes(session):
        return True
    if session.scalar(select(Incident.id).where(Incident.resolved_at.is_(None),
                                                Incident.origin == "automatic").limit(1)):
        return True
    return any(live.state in FAILING_STATES for live in live_states(session).values())


def recently_resolved_automatic(session: Session, since: datetime) -> list[Incident]:
    """Automatic incidents resolved at or after `since` (candidates to reopen), locked for
    this pass (PostgreSQL)."""
    query = (select(Incident).where(Incident.resolved_at >= since,
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
               settings: Settings, *, automatic: bool = False, author_id: int | None = None,
               notify: bool = True, internal: bool = False) -> IncidentUpdate:
    """Append an update (flushed, so its id can number a page) and, with `notify`, in the
    same transaction the notices to the subscribers of what the incident touches.

    Automatic incidents pass `notify=False`: their notices are batched (`announce_due`).
    An `internal` update is for on-call only: it changes no status and is never sent.
    """
    update_row = IncidentUpdate(status=incident.status if internal else status, body=body,
                                automatic=automatic, author_id=author_id, created_at=now,
                                internal=internal)
    incident.updates.append(update_row)
    incident.updated_at = now
    if not internal:
        incident.status = status
    session.flush()
    if notify and not internal:
        _announce(session, incident, update_row, settings, now)
    return update_row


def _announce(session: Session, incident: Incident, update_row: IncidentUpdate,
              settings: Settings, now: datetime, *, first: bool = False) -> None:
    kind = "incident.opened" if first else None
    body = incident.public_message if first and incident.public_message else None
    announce(session, incident_event(incident, update_row, settings.effective_public_url,
                                     kind=kind, body=body),
             settings, FixedClock(now))
    incident.notified_update_id, incident.notified_at = update_row.id, now


def announce_due(session: Session, incident: Incident, now: datetime, settings: Settings,
                 settle: timedelta, interval: timedelta) -> bool:
    """Tell subscribers of an automatic incident's episode as one story; True if it did.

    The first notice waits `settle` after the incident (re)opened, so it names everything
    affected by then; later changes go out at most once per `interval`, as one notice with
    the newest update; the resolution goes at once. An episode resolved before its first
    notice was due is told to nobody (the status page shows it).
    """
    public = [u for u in incident.updates if not u.internal]
    if not public:
        return False
    latest = public[-1]
    if incident.notified_update_id is not None and latest.id <= incident.notified_update_id:
        return False
    resolved = latest.status == "resolved"
    if incident.notified_at is None:
        if resolved:
            incident.notified_update_id = latest.id  # nothing told, nothing to resolve
            return False
        if now < (incident.reopened_at or incident.opened_at) + settle:
            return False
        _announce(session, incident, latest, settings, now, first=True)
        return True
    if resolved and _told_resolved(incident):
        # A relapse came and went before subscribers heard of it: what they were last
        # told ("resolved") is true again, so they hear nothing new.
        incident.notified_update_id = latest.id
        return False
    if not resolved and now < incident.notified_at + interval:
        return False
    _announce(session, incident, latest, settings, now)
    return True


def _told_resolved(incident: Incident) -> bool:
    told = next((u for u in incident.updates if u.id == incident.notified_update_id), None)
    return told is not None and told.status == "resolved"


def acknowledged_in_pagerduty(incident: Incident, at: datetime, now: datetime) -> bool:
    """Someone acknowledged the incident's alert in PagerDuty: the first acknowledgement
    is the incident's, so time to acknowledge counts it (no page goes back: PagerDuty knows).

    Whether it changed anything: a resolved or already acknowledged incident keeps its own.
    """
    if incident.status == IncidentStatus.RESOLVED or incident.acknowledged_at is not None:
        return False
    incident.acknowledged_at = max(min(at, now), incident.opened_at)
    incident.updated_at = now
    return True


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
    """What PagerDuty hears about an incident: the most important tier affected wins; a
    ticket-level burn-rate alert (impact minor) is low urgency on the Tier 2 key."""
    affected = [(c.component, c.region, c.state) for c in incident.components]
    tier = min((tier_of(c) for c, _, _ in affected), default=1)
    severity = None
    if incident.origin == Origin.BURN_RATE and incident.impact == "minor":
        tier, severity = 2, "warning"
    link = f"{settings.effective_public_url}/admin/incidents/{incident.id}"
    root = incident.root_component or (affected[0][0] if affected else "")
    regions = sorted({r for _, r, _ in affected})
    kind = {Origin.AUTOMATIC: "outage", Origin.BURN_RATE: "burn_rate"}.get(
        Origin(incident.origin), "declared")
    return IncidentPage(incident.id, incident.title, incident.impact, tier, affected, link,
                        tuple(first_failures), started_at=incident.first_failure_at,
                        root=root, source=_source(root, regions), kind=kind,
                        severity=severity)


def _source(root: str, regions: Sequence[str]) -> str:
    """The failing endpoint as PagerDuty's `source`: the root's region endpoint."""
    if not regions:
        return "bellwether"
    return f"{root}.{regions[0]}" if len(regions) == 1 else f"{root} ({', '.join(regions)})"


def page_targets(incident: Incident) -> list[PageTarget]:
    return [PageTarget(p.dedup_key, p.routing_key, p.tier) for p in incident.pages]


def page(session: Session, incident: Incident, action: str, revision: int,
         settings: Settings, now: datetime,
         first_failures: Sequence[dict[str, Any]] = ()) -> int:
    """Enqueue PagerDuty events in the caller's transaction; how many rows were new.

    A trigger opens an alert on the key the incident routes to now, with its routing key
    stored, unless that key has an alert of this incident already (one page per key per
    episode: more components or a higher impact are updates on the incident, not pages);
    acknowledge and resolve go to every open alert of the incident, each on the routing key
    its trigger went to.
    """
    described = incident_page(incident, settings, first_failures)
    if action == "trigger":
        target, new = trigger_target(described, page_targets(incident), settings)
        if target is None or not new:
            return 0  # one trigger per key per episode: the open alert links to the incident
        incident.pages.append(IncidentPageRow(
            dedup_key=target.dedup_key, routing_key=target.routing_key,
            tier=target.tier, triggered_at=now))
        return enqueue(session, [page_notice(described, target, action, revision, settings),
                                 *escalation_notices(described, target, action, revision,
                                                     settings)], now)
    open_rows = [p for p in incident.pages if p.resolved_at is None]
    if action == "resolve" and incident.reopened_at is None:
        revision = 0  # the first closing; a reopened incident's resolves are numbered
    notices = []
    for row in open_rows:
        target = PageTarget(row.dedup_key, row.routing_key, row.tier)
        notices += [page_notice(described, target, action, revision, settings),
                    *escalation_notices(described, target, action, revision, settings)]
    if action == "resolve":
        for row in open_rows:
            row.resolved_at = now
    return enqueue(session, notices, now)


def reopen_pages(session: Session, incident: Incident, revision: int, settings: Settings,
                 now: datetime) -> int:
    """A reopened incident's alerts: a resolve PagerDuty has not been sent yet is taken
    back (the alert never closed there); one already sent is followed by a new trigger on
    the same dedup_key and routing key. How many triggers were enqueued. Each escalation
    channel is judged the same way on its own resolve, as it may have been told while
    PagerDuty's waited (or the other way round)."""
    described = incident_page(incident, settings)
    triggers: list[Notice] = []
    for row in incident.pages:
        if row.resolved_at is None:
            continue
        row.resolved_at = None
        target = PageTarget(row.dedup_key, row.routing_key, row.tier)
        triggers += [n for n in escalation_notices(described, target, "trigger", revision,
                                                   settings)
                     if not withdraw_unsent(session, escalation_resolve_prefix(
                         n.recipient, row.dedup_key))]
        if withdraw_unsent(session, resolve_prefix(row.dedup_key)):
            continue
        triggers.append(page_notice(described, target, "trigger", revision, settings))
    return enqueue(session, triggers, now)


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
                  row.cancelled_at, row.short_notice_reason)


def schedule_window(session: Session, window: WindowInput, author_id: int | None,
                    now: datetime) -> Window:
    row = Maintenance(title=window.title, message=window.message, starts_at=window.start,
                      ends_at=window.end, status="scheduled", created_by=author_id,
                      created_at=now, short_notice_reason=window.short_notice_reason,
                      scopes=[MaintenanceScope(component=c, region=r) for c, r in window.scopes])
    session.add(row)
    session.flush()
    return window_of(row)


def booked_downtime(session: Session, start: datetime, end: datetime, now: datetime,
                    ) -> list[Booked]:
    """Downtime already booked in [start, end): every incident component affected then
    (still going: `end` None), and the measured down minutes (from the probes' rollups)
    up to `now` of every (component, region) with a live state."""
    rows = session.execute(
        select(IncidentComponent, Incident.id, Incident.resolved_at)
        .join(Incident, Incident.id == IncidentComponent.incident_id)
        .where(IncidentComponent.first_affected_at < end,
               IncidentComponent.state != "operational",
               or_(IncidentComponent.recovered_at.is_(None),
                   IncidentComponent.recovered_at > start),
               or_(Incident.resolved_at.is_(None), Incident.resolved_at > start)))
    booked = [Booked(c.component, c.region, c.first_affected_at,
                     min((t for t in (c.recovered_at, resolved_at) if t is not None),
                         default=None), f"incident #{incident_id}")
              for c, incident_id, resolved_at in rows]
    if start < now:  # minutes from now on cannot have been measured yet
        first, last = int(start.timestamp()) // 60, int(min(end, now).timestamp()) // 60 + 1
        for component, region in sorted(probes_store.states(session)):
            for minute, verdict, _ in rollup_reads.notable_minutes(
                    session, component, region, first, last):
                if verdict is MinuteVerdict.DOWN:
                    at = datetime.fromtimestamp(minute * 60, UTC)
                    booked.append(Booked(component, region, at, at + timedelta(minutes=1),
                                         "measured down minute"))
    return booked


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


def incident_counts(session: Session) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    """Open incidents by (impact, origin), and every incident ever opened by origin: two
    aggregate queries (the first on `ix_incidents_open`), for `/metrics`."""
    open_rows = session.execute(
        select(Incident.impact, Incident.origin, func.count())
        .where(Incident.resolved_at.is_(None)).group_by(Incident.impact, Incident.origin))
    opened_rows = session.execute(
        select(Incident.origin, func.count()).group_by(Incident.origin))
    return ({(impact, origin): int(n) for impact, origin, n in open_rows},
            {origin: int(n) for origin, n in opened_rows})
