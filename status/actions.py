"""What support engineers do to incidents and maintenance, one function per action.

The API and the web UI call these. Each writes the change and its PagerDuty events in the
caller's transaction (record before send: the outbox delivers them after the commit), and
locks the incident it changes so the incident job and a second engineer wait their turn.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from core.config import Settings
from status import store
from status.announce import incident_event
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
from status.models import Incident, IncidentComponent, IncidentUpdate
from status.notify import Event


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
    _check_update(incident, update)
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


def _check_update(incident: Incident, update: UpdateInput) -> None:
    check_open(incident.status, "get updates")
    if incident.origin == Origin.AUTOMATIC and (update.impact or update.components is not None):
        raise IllegalTransition("the impact and components of an automatic incident follow "
                                "the measured state; write the text, not the figures")


# --- what subscribers would hear (previews: nothing written) -------------------------------
#
# The events below are the ones `declare` and `post_update` announce, built by the same
# functions (`incident_event`, `_replace_components`) on a detached copy of the incident,
# so a preview never touches the session. The timing sentences follow the rules those
# actions run: `declare` announces at once (announce_due with no settle), `add_update`
# with notify announces at once, `close` announces only what subscribers had heard of.

def _detached(incident: Incident) -> Incident:
    """A copy of the incident, its components and updates, outside any session."""
    copy = Incident(id=incident.id, title=incident.title, impact=incident.impact,
                    status=incident.status, origin=incident.origin,
                    public_message=incident.public_message, opened_at=incident.opened_at,
                    updated_at=incident.updated_at, resolved_at=incident.resolved_at,
                    notified_at=incident.notified_at)
    copy.components = [IncidentComponent(component=c.component, region=c.region,
                                         state=c.state, first_affected_at=c.first_affected_at,
                                         recovered_at=c.recovered_at)
                       for c in incident.components]
    copy.updates = [IncidentUpdate(id=u.id, status=u.status, body=u.body,
                                   created_at=u.created_at, internal=u.internal)
                    for u in incident.updates]
    return copy


def declaration_event(declaration: Declaration, now: datetime, base_url: str,
                      ) -> tuple[Event, str]:
    """The first notice `declare` sends, and when (its link names the new incident)."""
    shadow = Incident(id=0, title=declaration.title, impact=declaration.impact.value,
                      status=declaration.status.value, origin=Origin.DECLARED.value,
                      public_message=declaration.message, opened_at=now, updated_at=now)
    store.add_components(shadow, ((a.component, a.region, a.state)
                                  for a in declaration.components), now)
    first = IncidentUpdate(id=0, status=declaration.status.value, body=declaration.message,
                           created_at=now)
    shadow.updates.append(first)
    event = incident_event(shadow, first, base_url, kind="incident.opened",
                           body=declaration.message)
    return (replace(event, link=f"{base_url}/incidents/(its-number)"),
            "Goes out at once when you declare: a declared incident's first notice is not "
            "held back (automatic ones wait notice_settle_s to name all they affect).")


def update_event(incident: Incident, update: UpdateInput, now: datetime, base_url: str,
                 interval_s: float) -> tuple[Event, str, bool]:
    """The notice `post_update` would send for this update, when, and whether it is sent
    at all (resolving what subscribers never heard of sends nothing)."""
    _check_update(incident, update)
    shadow = _detached(incident)
    if update.impact is not None:
        shadow.impact = update.impact.value
    if update.components is not None:
        _replace_components(shadow, update, now)
    row = IncidentUpdate(id=max((u.id for u in incident.updates), default=0) + 1,
                         status=update.status.value, body=update.body, created_at=now)
    shadow.updates.append(row)
    if update.status is IncidentStatus.RESOLVED:
        shadow.resolved_at = now
    event = incident_event(shadow, row, base_url)
    if update.status is IncidentStatus.RESOLVED:
        told = next((u for u in incident.updates if u.id == incident.notified_update_id), None)
        if incident.notified_at is None:
            return event, _NOT_TOLD, False
        if told is not None and told.status == IncidentStatus.RESOLVED:
            return event, _TOLD_RESOLVED, False
    batched = (f" The changes the automation measures on this incident are told at most "
               f"every {interval_s:g} s (notice_interval_s); yours is not held back."
               if incident.origin == Origin.AUTOMATIC else "")
    return event, "Goes out at once when you post it." + batched, True


_NOT_TOLD = ("Not sent: subscribers were never told of this incident, so its resolution is "
             "not sent either (the status page shows it).")
_TOLD_RESOLVED = "Not sent: subscribers were last told it is resolved, which is true again."


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
