"""Maintenance notices: scheduled, started and completed, to the subscribers of the covered
regions and components (the same filter as incidents). Time decides when a window starts
and ends, so a job announces them; outbox keys make every pass after the first a no-op."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from alerts.outbox import Notice, enqueue
from core.db import read_scope, session_scope
from core.scheduler import Job, JobContext
from status import subscribers_store
from status.announce import links_for, maintenance_event
from status.maintenance import scope_matches
from status.models import Maintenance
from status.notify import notices_for
from status.public_store import public_components
from status.render import environment

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


def due_notices(session: Session, ctx: JobContext) -> list[Notice]:
    """Every notice of the events that are due, rendered (the outbox drops those it has)."""
    now = ctx.clock.now()
    pairs = public_components(session, ctx.settings.regions)
    windows = session.scalars(
        select(Maintenance).options(selectinload(Maintenance.scopes))
        .where(Maintenance.cancelled_at.is_(None), Maintenance.ends_at >= now - HORIZON,
               Maintenance.created_at <= now))
    notices: list[Notice] = []
    for window in windows:
        for kind, at in due_events(window, now):
            event = maintenance_event(window, kind, covered(window, pairs),
                                      ctx.settings.effective_public_url, at)
            audience = subscribers_store.audience(
                session, {region for _, region in event.affected}, at)
            if audience:
                notices += notices_for(event, audience, environment(),
                                       links_for(ctx.settings, ctx.clock),
                                       ctx.settings.effective_public_url)
    return notices


def announce_maintenance(session: Session, ctx: JobContext) -> int:
    """Enqueue the due notices in the caller's transaction; how many were new."""
    return enqueue(session, due_notices(session, ctx), ctx.clock.now())


def maintenance_notices(ctx: JobContext) -> int:
    """Enqueue the maintenance notices that are due; how many were new.

    Finding and rendering them only reads, so it happens in a read scope; the write
    transaction is the outbox's insert alone, and there is none when nothing is due
    (rendering inside it held SQLite's write lock while "database is locked" hit others).
    """
    with read_scope(ctx.session_factory) as session:
        notices = due_notices(session, ctx)
    if not notices:
        return 0
    with session_scope(ctx.session_factory) as session:
        return enqueue(session, notices, ctx.clock.now())


JOBS = (Job("status.maintenance_notices", timedelta(seconds=5), maintenance_notices,
            "tell subscribers that maintenance was scheduled, started or completed"),)
