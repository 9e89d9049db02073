"""Maintenance notices: scheduled, started and completed, to the subscribers of the covered
regions and components (the same filter as incidents). Time decides when a window starts
and ends, so a job announces them; outbox keys make every pass after the first a no-op."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from core.db import session_scope
from core.scheduler import Job, JobContext
from status.announce import announce, maintenance_event
from status.maintenance import scope_matches
from status.models import Maintenance
from status.public_store import public_components

#: Events older than this are not announced any more (a long outage of the job itself).
HORIZON = timedelta(hours=6)


def due_events(window: Maintenance, now: datetime) -> list[tuple[str, datetime]]:
    """The window's events that have happened by `now` and are recent enough to tell."""
    events = [("maintenance.scheduled", window.created_at),
              ("maintenance.started", window.starts_at),
              ("maintenance.completed", window.ends_at)]
    return [(kind, at) for kind, at in events if now - HORIZON <= at <= now]


def covered(window: Maintenance, pairs: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((c, r) for c, r in pairs
                 if any(scope_matches((s.component, s.region), c, r) for s in window.scopes))


def announce_maintenance(session: Session, ctx: JobContext) -> int:
    now = ctx.clock.now()
    pairs = public_components(session, ctx.settings.regions)
    windows = session.scalars(
        select(Maintenance).options(selectinload(Maintenance.scopes))
        .where(Maintenance.cancelled_at.is_(None), Maintenance.ends_at >= now - HORIZON,
               Maintenance.created_at <= now))
    total = 0
    for window in windows:
        for kind, at in due_events(window, now):
            event = maintenance_event(window, kind, covered(window, pairs),
                                      ctx.settings.effective_public_url, at)
            total += announce(session, event, ctx.settings, ctx.clock, subscribed_by=at)
    return total


def maintenance_notices(ctx: JobContext) -> int:
    """Enqueue the maintenance notices that are due; how many were new."""
    with session_scope(ctx.session_factory) as session:
        return announce_maintenance(session, ctx)


JOBS = (Job("status.maintenance_notices", timedelta(seconds=5), maintenance_notices,
            "tell subscribers that maintenance was scheduled, started or completed"),)
