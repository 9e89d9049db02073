"""What PagerDuty's V3 webhooks change here: acknowledgements, reassignments and
resolutions made in PagerDuty go on the Bellwether incident's timeline as internal
(on-call) updates, written through status' own `add_update`; the first acknowledgement
is also the incident's own (its time to acknowledge in reports).

A resolve in PagerDuty never resolves an incident probes still see failing: it is recorded,
and its event row waits (`watching`) for the incident's next evaluation. The incident job
(status.jobs) stamps `last_bad_at` on every evaluation that sees the failure; the first one
after the resolve arrived gets a note saying so (`follow_up_resolves`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from alerts.models import PagerDutyEvent
from alerts.pagerduty_inbound import (
    InboundEvent,
    ignored_because,
    incident_id_of,
    still_failing_note,
    timeline_note,
)
from core.config import Settings
from core.db import SessionFactory, read_scope, session_scope
from core.errors import NotFound
from status import store as status_store
from status.incidents import FAILING_STATES

RECORDED, IGNORED, WATCHING, FOLLOWED = "recorded", "ignored", "watching", "followed"
#: Event ids are kept this long for deduplication (far beyond PagerDuty's retries).
KEEP = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Receipt:
    """What came of one delivery: `outcome` (recorded, watching, ignored or duplicate),
    the incident it went to, and why it was ignored."""

    outcome: str
    incident_id: int | None = None
    reason: str = ""


def record_event(session: Session, event: InboundEvent, now: datetime,
                 settings: Settings) -> Receipt:
    """Record one event in the caller's transaction, once per event id.

    1. Decide: ignored (a type not followed, not our alert, an integration's own change, an
       incident we do not have) or the note for the incident's timeline.
    2. Claim the event id (insert, on conflict nothing): a redelivery, or the same event
       arriving twice at once, finds it taken and changes nothing.
    3. Write the internal update on the incident (locked on PostgreSQL); a resolve of an
       incident still open waits for its next evaluation (`watching`), until PagerDuty
       reopens that incident.
    """
    reason = ignored_because(event)
    incident = None
    incident_id = incident_id_of(event.incident_key)
    if reason is None and incident_id is not None:
        try:
            incident = status_store.get_incident(session, incident_id, for_update=True)
        except NotFound:
            reason = f"Bellwether has no incident {incident_id}"
    is_open = incident is not None and status_store.timeline_of(incident).resolved_at is None
    outcome = IGNORED if incident is None else (
        WATCHING if event.event_type == "incident.resolved" and is_open else RECORDED)
    note = (reason or "") if incident is None else timeline_note(event, is_open)
    if not _claim(session, event, incident_id, outcome, note, now):
        return Receipt("duplicate", incident_id)
    if incident is None:
        return Receipt(IGNORED, incident_id, reason or "")
    if event.event_type == "incident.acknowledged":
        status_store.acknowledged_in_pagerduty(incident, event.occurred_at, now)
    status_store.add_update(session, incident, incident.status, note, now, settings,
                            automatic=True, notify=False, internal=True)
    if event.event_type == "incident.reopened" and event.pd_incident:
        # Open in PagerDuty again: its earlier resolve no longer needs saying.
        session.execute(update(PagerDutyEvent).where(
            PagerDutyEvent.outcome == WATCHING, PagerDutyEvent.pd_incident == event.pd_incident)
            .values(outcome=FOLLOWED))
    return Receipt(outcome, incident_id)


def _claim(session: Session, event: InboundEvent, incident_id: int | None, outcome: str,
           note: str, now: datetime) -> bool:
    """Insert the event's row unless its id is known; whether this call inserted it."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    # RETURNING, not rowcount: through the session, PostgreSQL's rowcount said 1 for a row
    # the conflict skipped; a row comes back only when this statement inserted it.
    inserted = session.execute(
        dialect.insert(PagerDutyEvent).values(
            event_id=event.id, event_type=event.event_type, incident_id=incident_id,
            pd_incident=event.pd_incident, agent=event.agent[:200],
            occurred_at=event.occurred_at, received_at=now, outcome=outcome, note=note[:500])
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(PagerDutyEvent.event_id)).scalar_one_or_none()
    return inserted is not None


def follow_up_resolves(factory: SessionFactory, now: datetime, settings: Settings) -> int:
    """Follow each PagerDuty resolve of an open incident up once; how many were.

    An incident resolved here (or gone) closes the matter silently. An incident the incident
    job saw failing after the resolve arrived (`last_bad_at` later than it) gets one internal
    note naming what still fails. Otherwise the resolve waits for the next evaluation. Event
    rows older than `KEEP` are dropped on the way. A quiet pass is one read.
    """
    with read_scope(factory) as session:
        waiting, old = session.execute(select(
            select(PagerDutyEvent.event_id).where(PagerDutyEvent.outcome == WATCHING)
            .limit(1).scalar_subquery(),
            select(PagerDutyEvent.event_id).where(PagerDutyEvent.received_at < now - KEEP,
                                                  PagerDutyEvent.outcome != WATCHING)
            .limit(1).scalar_subquery())).one()
    if waiting is None and old is None:
        return 0
    followed = 0
    with session_scope(factory) as session:
        by_incident: dict[int, list[PagerDutyEvent]] = defaultdict(list)
        for row in _watching(session):
            by_incident[row.incident_id or 0].append(row)
        for incident_id, resolves in by_incident.items():
            followed += _follow_up(session, incident_id, resolves, now, settings)
        if old is not None:
            session.execute(delete(PagerDutyEvent).where(
                PagerDutyEvent.received_at < now - KEEP, PagerDutyEvent.outcome != WATCHING))
    return followed


def _watching(session: Session) -> list[PagerDutyEvent]:
    """The resolves waiting, locked for this pass (another worker skips them)."""
    query = (select(PagerDutyEvent).where(PagerDutyEvent.outcome == WATCHING)
             .order_by(PagerDutyEvent.received_at).limit(100))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def _follow_up(session: Session, incident_id: int, resolves: list[PagerDutyEvent],
               now: datetime, settings: Settings) -> int:
    """One incident's waiting resolves: closed, noted, or left for a later evaluation."""
    try:
        incident = status_store.get_incident(session, incident_id, for_update=True)
    except NotFound:
        incident = None
    if incident is None or status_store.timeline_of(incident).resolved_at is not None:
        for row in resolves:
            row.outcome = FOLLOWED
        return len(resolves)
    first = resolves[0]
    # The incident job stamps last_bad_at on every evaluation that sees the failure.
    last_bad: datetime | None = incident.last_bad_at
    if last_bad is None or last_bad <= max(row.received_at for row in resolves):
        return 0
    failing = [(t.component, t.region, t.state) for t in status_store.tracked_of(incident)
               if t.state in FAILING_STATES]
    status_store.add_update(session, incident, incident.status,
                            still_failing_note(first.agent, first.received_at, failing), now,
                            settings, automatic=True, notify=False, internal=True)
    for row in resolves:
        row.outcome = FOLLOWED
    return len(resolves)
