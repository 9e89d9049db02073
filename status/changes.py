"""What the public site says can only change when one of its sources changes: a live state
(or its reason), an incident, its updates or components, a maintenance window (edited, or
starting or ending as time passes), today's day summary (its down, single-location,
maintenance and no-data minutes) or the date. `marker` reads a few aggregates of those
(index lookups and small scans, no rendering), so the publish job renders only when the
marker moved, or every few minutes for what moves with time alone (the latency charts,
"generated at", the uptime figures' passing minutes).

A version read rather than a signal: it works the same in one `bellwether up` and between
the processes of the scale-out layout, on SQLite and PostgreSQL, and a missed signal can
never leave the site stale.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from probes import rollup_reads
from probes import store as probes_store
from status.models import (
    Incident,
    IncidentComponent,
    IncidentUpdate,
    Maintenance,
    MaintenanceScope,
)

#: Minutes in a UTC day, as the day summaries count days (`minute // 1440`).
DAY_MINUTES = 1440


def _digest(rows: object) -> str:
    return hashlib.blake2b(repr(rows).encode(), digest_size=12).hexdigest()


def marker(session: Session, now: datetime) -> tuple[Hashable, ...]:
    """A value that changes whenever anything the public site shows from the database
    changes, and when a maintenance window starts or ends or a new day begins.

    Today's day summary counts only its notable minutes: its count of minutes grows every
    minute, and a render every minute for that alone is what this marker avoids."""
    incidents = session.execute(
        select(func.count(Incident.id), func.max(Incident.updated_at),
               func.max(Incident.resolved_at), func.max(Incident.reopened_at))).one()
    updates = session.execute(
        select(func.count(IncidentUpdate.id), func.max(IncidentUpdate.id))).one()
    touched = session.execute(
        select(func.count(IncidentComponent.id), func.max(IncidentComponent.recovered_at),
               func.max(IncidentComponent.first_affected_at))).one()
    # Windows are few and may be edited in place: their rows are the marker.
    windows = session.execute(
        select(Maintenance.id, Maintenance.title, Maintenance.message, Maintenance.starts_at,
               Maintenance.ends_at, Maintenance.status, Maintenance.cancelled_at)
        .order_by(Maintenance.id)).all()
    scopes = session.execute(
        select(MaintenanceScope.maintenance_id, MaintenanceScope.component,
               MaintenanceScope.region).order_by(MaintenanceScope.id)).all()
    # A window's shown status follows the clock (scheduled, in progress, completed).
    passed = sum((row.starts_at <= now) + (row.ends_at <= now) for row in windows)
    today = int(now.timestamp()) // 60 // DAY_MINUTES
    return (probes_store.state_marker(session), tuple(incidents), tuple(updates),
            tuple(touched), _digest((windows, scopes)), passed, today,
            _digest(rollup_reads.notable_day_counts(session, today)))
