"""Turning incident updates and maintenance changes into subscriber notices, in the
caller's transaction (record before send: the outbox row commits with the change)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from alerts.outbox import enqueue
from core.clock import Clock
from core.config import Settings
from status import subscribers_store
from status.models import Incident, IncidentUpdate, Maintenance
from status.notify import Event, notices_for
from status.render import environment
from status.subscriptions import Links


def links_for(settings: Settings, clock: Clock) -> Links:
    if not settings.secret_key:
        raise RuntimeError("subscription links need a stable secret key (BELLWETHER_SECRET_KEY)")
    return Links(settings.secret_key, clock)


def incident_event(incident: Incident, update: IncidentUpdate, base_url: str, *,
                   kind: str | None = None, body: str | None = None) -> Event:
    """opened (its first update, or the first subscribers hear of), resolved, or updated;
    `kind` and `body` given for an episode's first notice, told after the incident already
    had updates.

    A support engineer's update to an automatic incident nobody was told of yet is its
    opening: an "updated" notice first would leave subscribers with no "opened" one ever.
    """
    if kind is not None:
        pass
    elif update.status == "resolved" or incident.resolved_at is not None:
        kind = "incident.resolved"
    elif (len(incident.updates) <= 1 or update.id == min(u.id for u in incident.updates)
          or incident.notified_at is None):
        kind = "incident.opened"
    else:
        kind = "incident.updated"
    return Event(key=f"incident-{incident.id}:update-{update.id}", kind=kind,
                 title=incident.title, status=update.status,
                 body=update.body if body is None else body,
                 affected=tuple((c.component, c.region) for c in incident.components),
                 link=f"{base_url}/incidents/{incident.id}", at=update.created_at,
                 document={"incident_id": incident.id, "impact": incident.impact})


def maintenance_event(window: Maintenance, kind: str, affected: tuple[tuple[str, str], ...],
                      base_url: str, at: datetime) -> Event:
    status = {"maintenance.scheduled": "scheduled", "maintenance.started": "in_progress",
              "maintenance.completed": "completed"}[kind]
    return Event(key=f"maintenance-{window.id}:{status}", kind=kind, title=window.title,
                 status=status, body=window.message, affected=affected,
                 link=f"{base_url}/", at=at,
                 document={"maintenance_id": window.id,
                           "scheduled_for": window.starts_at.isoformat(),
                           "scheduled_until": window.ends_at.isoformat()})


def announce(session: Session, event: Event, settings: Settings, clock: Clock,
             subscribed_by: datetime | None = None) -> int:
    """Enqueue the event for everyone who hears of it (and had subscribed by
    `subscribed_by`, when given); how many notices were new."""
    regions = {region for _, region in event.affected}
    audience = subscribers_store.audience(session, regions, subscribed_by)
    if not audience:
        return 0
    notices = notices_for(event, audience, environment(),
                          links_for(settings, clock), settings.effective_public_url)
    return enqueue(session, notices, clock.now())
