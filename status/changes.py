"""What the public site says can only change when one of its sources changes: a live state
(or its reason), an incident, its updates or components, or a maintenance window. `marker`
reads a few aggregates of those (index lookups and small scans, no rendering), so the
publish job renders only when the marker moved, or once a minute for the time-driven parts
(today's bar, the latency charts, "generated at", a window starting or ending).

A version read rather than a signal: it works the same in one `bellwether up` and between
the processes of the scale-out layout, on SQLite and PostgreSQL, and a missed signal can
never leave the site stale.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from probes import store as probes_store
from status.models import (
    Incident,
    IncidentComponent,
    IncidentUpdate,
    Maintenance,
    MaintenanceScope,
)


def _digest(rows: object) -> str:
    return hashlib.blake2b(repr(rows).encode(), digest_size=12).hexdigest()


def marker(session: Session) -> tuple[Hashable, ...]:
    """A value that changes whenever anything the public site shows from the database
    changes (beside the passing of time)."""
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
    return (probes_store.state_marker(session), tuple(incidents), tuple(updates),
            tuple(touched), _digest((windows, scopes)))
