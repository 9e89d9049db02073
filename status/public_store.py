"""Loading what the public page shows: live states (with maintenance on top), incidents,
maintenance windows and the daily bars. One function builds the `StatusPage` value."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from commerce.catalog import SERVICES, tier_of
from probes.models import ComponentState, LocationMinute, Probe
from status.maintenance import Window, displayed_state, phase, scope_matches
from status.models import Incident, Maintenance
from status.page import (
    ComponentView,
    DayBar,
    IncidentView,
    StatusPage,
    UpdateView,
    build_status_page,
    uptime_of,
)
from status.store import window_of

#: Synthetic probes that are not a component of the public page.
INTERNAL_COMPONENTS = frozenset({"transaction"})
HISTORY_DAYS = 90
RECENT_INCIDENTS = 50

DailyBars = Callable[[Session, str, str, date, int, datetime], Sequence[DayBar]]


def public_components(session: Session, regions: Sequence[str]) -> list[tuple[str, str]]:
    """Every (component, region) the page lists: the commerce services, and probed others."""
    pairs = {(service, region) for service in SERVICES for region in regions}
    for component, region in session.execute(select(Probe.component, Probe.region)):
        if region in regions and component not in INTERNAL_COMPONENTS:
            pairs.add((component, region))
    return sorted(pairs, key=lambda p: (regions.index(p[1]), tier_of(p[0]), p[0]))


def recent_windows(session: Session, now: datetime, recent_days: int = 7) -> list[Window]:
    """Active, upcoming and recently finished windows (cancelled ones are not shown)."""
    rows = session.scalars(
        select(Maintenance).options(selectinload(Maintenance.scopes))
        .where(Maintenance.ends_at >= now - timedelta(days=recent_days))
        .order_by(Maintenance.starts_at))
    windows = [window_of(row) for row in rows]
    return [w for w in windows if phase(w, now) != "cancelled"]


def incident_rows(session: Session, limit: int = RECENT_INCIDENTS, offset: int = 0,
                  incident_id: int | None = None) -> list[Incident]:
    """Open incidents first, then the most recent resolved ones (or the one asked for)."""
    query = (select(Incident)
             .options(selectinload(Incident.components), selectinload(Incident.updates))
             .order_by(Incident.resolved_at.is_not(None), Incident.opened_at.desc(),
                       Incident.id.desc())
             .where(Incident.origin != "burn_rate")  # budget alerts are for on-call
             .limit(limit).offset(offset))
    if incident_id is not None:
        query = query.where(Incident.id == incident_id)
    return list(session.scalars(query))


def incident_view(row: Incident) -> IncidentView:
    return IncidentView(
        id=row.id, title=row.title, status=row.status, impact=row.impact,
        started_at=row.opened_at, updated_at=row.updated_at, resolved_at=row.resolved_at,
        components=tuple((c.component, c.region, c.state) for c in row.components),
        updates=tuple(UpdateView(u.id, u.status, u.body, u.created_at) for u in row.updates),
        origin=row.origin)


def maintenance_view(window: Window, all_pairs: Sequence[tuple[str, str]],
                     now: datetime) -> IncidentView:
    status = phase(window, now)
    covered = tuple((c, r, "under_maintenance") for c, r in all_pairs
                    if any(scope_matches(scope, c, r) for scope in window.scopes))
    update = UpdateView(window.id, status, window.message, window.start)
    return IncidentView(id=window.id, title=window.title, status=status, impact="maintenance",
                        started_at=window.start, updated_at=min(now, window.effective_end),
                        resolved_at=window.effective_end if status == "completed" else None,
                        components=covered, updates=(update,), kind="maintenance",
                        scheduled_for=window.start, scheduled_until=window.end)


def no_bars(_session: Session, _component: str, _region: str, _first: date, _days: int,
            _now: datetime) -> Sequence[DayBar]:
    return ()


def load_status_page(session: Session, title: str, url: str, regions: Sequence[str],
                     now: datetime, region: str | None = None,
                     daily_bars: DailyBars = no_bars) -> StatusPage:
    """Read everything the page shows and build it (for all regions, or one)."""
    pairs = public_components(session, regions)
    states = {(row.component, row.region): row
              for row in session.scalars(select(ComponentState))}
    windows = recent_windows(session, now)
    first_day = (now - timedelta(days=HISTORY_DAYS - 1)).date()
    components = []
    for component, pair_region in pairs:
        if region is not None and pair_region != region:
            continue
        known = states.get((component, pair_region))
        state = displayed_state(known.state if known else "operational", component,
                                pair_region, windows, now)
        bars = tuple(daily_bars(session, component, pair_region, first_day, HISTORY_DAYS, now))
        components.append(ComponentView(component, pair_region, tier_of(component), state,
                                        known.since if known else None, bars, uptime_of(bars)))
    incidents = [incident_view(row) for row in incident_rows(session)]
    maintenances = [maintenance_view(w, pairs, now) for w in windows]
    return build_status_page(title, url, regions, components, incidents, maintenances, now,
                             region)


def latency_series(session: Session, component: str, region: str, now: datetime,
                   hours: int = 24) -> dict[str, list[tuple[int, float, float]]]:
    """p50 and p95 per location and minute over the last `hours`, from the rollups."""
    first = int((now - timedelta(hours=hours)).timestamp()) // 60
    rows = session.execute(
        select(LocationMinute.location, LocationMinute.minute, LocationMinute.latency_p50_ms,
               LocationMinute.latency_p95_ms)
        .where(LocationMinute.component == component, LocationMinute.region == region,
               LocationMinute.minute >= first)
        .order_by(LocationMinute.minute))
    series: dict[str, list[tuple[int, float, float]]] = {}
    for location, minute, p50, p95 in rows:
        series.setdefault(location, []).append((minute, p50, p95))
    return series
