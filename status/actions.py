"""What support engineers do to incidents and maintenance, one function per action.

The API and the web UI call these. Each writes the change and its PagerDuty events in the
caller's transaction (record before send: the outbox delivers them after the commit), and
locks the incident it changes so the incident job and a second engineer wait their turn.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from core.config import Settings
from status import store
from status.declared import Declaration, TakeOver, UpdateInput
from status.incidents import (
    IllegalTransition,
    IncidentStatus,
    Origin,
    check_acknowledge,
    check_open,
    check_take_over,
    raises_impact,
)
from status.maintenance import Window, WindowInput, check_not_over_downtime
from status.models import Incident


def declare(session: Session, declaration: Declaration, author_id: int | None,
            now: datetime, settings: Settings) -> Incident:
    """Open a declared incident with its first public update, and page on-call."""
    incident = Incident(title=declaration.title, impact=declaration.impact.value,
                        status=declaration.status.value, origin=Origin.DECLARED.value,
                        public_message=declaration.message, created_by=author_id,
                        opened_at=now, updated_at=now)
    session.add(incident)
    store.add_components(incident, ((a.component, a.region, a.state)
                                    for a in declaration.components), now)
    first = store.add_update(session, incident, declaration.status.value, declaration.message,
                             now, settings, author_id=author_id, notify=False)
    store.page(session, incident, "trigger", first.id, settings, now)
    store.announce_due(session, incident, now, settings, timedelta(0), timedelta(0))
    return incident


def _replace_components(incident: Incident, update: UpdateInput, now: datetime) -> int:
    """Set a declared incident's components; ones no longer listed are marked recovered."""
    assert update.components is not None
    listed = {(a.component, a.region): a.state for a in update.components}
    for row in incident.components:
        state = listed.get((row.component, row.region), "operational")
        row.state = state
        row.recovered_at = (row.recovered_at or now) if state == "operational" else None
    return store.add_components(incident, ((a.component, a.region, a.state)
                                           for a in update.components), now)


def post_update(session: Session, incident_id: int, update: UpdateInput,
                author_id: int | None, now: datetime, settings: Settings) -> Incident:
    """Add a public update; `resolved` resolves. More components or a higher impact page
    on-call again (a new trigger revision)."""
    incident = store.get_incident(session, incident_id, for_update=True)
    check_open(incident.status, "get updates")
    if incident.origin == Origin.AUTOMATIC and (update.impact or update.components is not None):
        raise IllegalTransition("the impact and components of an automatic incident follow "
                                "the measured state; write the text, not the figures")
    if update.status is IncidentStatus.RESOLVED:
        return resolve(session, incident_id, update.body, author_id, now, settings)
    added = 0
    escalated = False
    if update.impact is not None:
        escalated = raises_impact(incident.impact, update.impact)
        incident.impact = update.impact.value
    if update.components is not None:
        added = _replace_components(incident, update, now)
    row = store.add_update(session, incident, update.status.value, update.body, now,
                           settings, author_id=author_id)
    if added or escalated:
        store.page(session, incident, "trigger", row.id, settings, now)
    return incident


def acknowledge(session: Session, incident_id: int, author_id: int | None, now: datetime,
                settings: Settings) -> Incident:
    """Someone is on it: record who and when, and tell PagerDuty."""
    incident = store.get_incident(session, incident_id, for_update=True)
    check_acknowledge(incident.status, incident.acknowledged_at)
    incident.acknowledged_at, incident.acknowledged_by = now, author_id
    incident.updated_at = now
    store.page(session, incident, "acknowledge", 0, settings, now)
    return incident


def resolve(session: Session, incident_id: int, body: str, author_id: int | None,
            now: datetime, settings: Settings, *, automatic: bool = False) -> Incident:
    """Close an incident with a last public update; PagerDuty hears exactly one resolve."""
    incident = store.get_incident(session, incident_id, for_update=True)
    check_open(incident.status, "be resolved again")
    return close(session, incident, body, author_id, now, settings, automatic=automatic)


def close(session: Session, incident: Incident, body: str, author_id: int | None,
          now: datetime, settings: Settings, *, automatic: bool = False,
          notify: bool = True) -> Incident:
    """Resolve an incident the caller holds (locked); used by `resolve` and the job. Every
    open alert is resolved on its own key first (pages before notices)."""
    incident.resolved_at = now
    row = store.add_update(session, incident, IncidentStatus.RESOLVED.value,
                           body or "This incident is resolved.", now, settings,
                           automatic=automatic, author_id=author_id, notify=False)
    store.page(session, incident, "resolve", row.id, settings, now)
    if notify:
        store.announce_due(session, incident, now, settings, timedelta(0), timedelta(0))
    return incident


def take_over(session: Session, incident_id: int, take: TakeOver, author_id: int | None,
              now: datetime, settings: Settings) -> Incident:
    """A support engineer now writes an automatic incident: its title and public text.

    The automation keeps tracking its components, impact and recovery, but no longer
    renames it or rewrites its text.
    """
    incident = store.get_incident(session, incident_id, for_update=True)
    check_take_over(incident.origin, incident.status)
    incident.taken_over = True
    incident.title, incident.public_message = take.title, take.message
    store.add_update(session, incident, incident.status, take.message, now, settings,
                     author_id=author_id)
    return incident


def schedule_maintenance(session: Session, window: WindowInput, author_id: int | None,
                         now: datetime) -> Window:
    """Store a checked window unless it covers downtime already booked (an incident's
    minutes or measured down minutes): an outage never becomes maintenance after the fact."""
    check_not_over_downtime(window, store.booked_downtime(session, window.start, window.end,
                                                          now), now)
    return store.schedule_window(session, window, author_id, now)


def cancel_maintenance(session: Session, window_id: int, now: datetime) -> Window:
    """Cancel a window that has not ended; a running one ends now."""
    row = store.get_window(session, window_id, for_update=True)
    if row.cancelled_at is not None:
        raise IllegalTransition("the maintenance window is cancelled already")
    if row.ends_at <= now:
        raise IllegalTransition("the maintenance window is over already")
    row.cancelled_at, row.status = now, "cancelled"
    return store.window_of(row)
