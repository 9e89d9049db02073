"""Loading what the public page shows: live states (with maintenance on top), incidents,
maintenance windows and the daily bars. One function builds the `StatusPage` value."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from commerce.catalog import SERVICES, tier_of
from probes import store as probes_store
from status.maintenance import Window, displayed_state, phase, scope_matches
from status.models import Incident, IncidentComponent, Maintenance
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
    for component, region in probes_store.probe_pairs(session, regions):
        if component not in INTERNAL_COMPONENTS:
            pairs.add((component, region))
    return sorted(pairs, key=lambda p: (regions.index(p[1]), tier_of(p[0]), p[0]))


def recent_windows(session: Session, now: datetime, recent_days: int = 7) -> list[Window]:
    """Active, upcoming and recently finished windows (cancelled ones are not shown)."""
    return [window for window, _ in _recent_window_rows(session, now, recent_days)]


def _recent_window_rows(session: Session, now: datetime,
                        recent_days: int = 7) -> list[tuple[Window, datetime]]:
    """The shown windows with when each was scheduled (its row's created_at)."""
    rows = session.scalars(
        select(Maintenance).options(selectinload(Maintenance.scopes))
        .where(Maintenance.ends_at >= now - timedelta(days=recent_days))
        .order_by(Maintenance.starts_at))
    windows = [(window_of(row), row.created_at) for row in rows]
    return [(w, created) for w, created in windows if phase(w, now) != "cancelled"]


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


def _shown_at(component: IncidentComponent, at: datetime) -> str:
    """The status an incident's component had at `at`, as far as its row tells: its state
    from when it was first affected until it recovered, operational otherwise."""
    if component.first_affected_at <= at and (component.recovered_at is None
                                                or at < component.recovered_at):
        return component.state
    return "operational"


def incident_view(row: Incident) -> IncidentView:
    """An incident as the public sees it: internal (on-call) updates left out; each update
    names the components it reports on, with their statuses before and at it."""
    public = sorted((u for u in row.updates if not u.internal),
                    key=lambda u: (u.created_at, u.id))
    updates = []
    previous: datetime | None = None
    for update in public:
        affected = tuple(
            (c.component, c.region,
             "operational" if previous is None else _shown_at(c, previous),
             _shown_at(c, update.created_at))
            for c in row.components if c.first_affected_at <= update.created_at)
        updates.append(UpdateView(update.id, update.status, update.body, update.created_at,
                                  affected))
        previous = update.created_at
    return IncidentView(
        id=row.id, title=row.title, status=row.status, impact=row.impact,
        started_at=row.opened_at, updated_at=row.updated_at, resolved_at=row.resolved_at,
        components=tuple((c.component, c.region, c.state) for c in row.components),
        updates=tuple(updates), origin=row.origin, created_at=row.opened_at,
        began_at=min(row.first_failure_at or row.opened_at, row.opened_at))


#: Statuspage's own words for a maintenance's automatic steps.
STEP_WORDS = {"in_progress": "Scheduled maintenance is currently in progress. We will provide "
                             "updates as necessary.",
              "completed": "The scheduled maintenance has been completed."}


def maintenance_view(window: Window, all_pairs: Sequence[tuple[str, str]],
                     now: datetime, created_at: datetime | None = None) -> IncidentView:
    """A window as Statuspage shows a scheduled maintenance: created when it was scheduled,
    an update for each step it has taken (scheduled, in progress, completed), updated at
    the last of them: nothing in it moves with the clock between steps."""
    status = phase(window, now)
    created = created_at if created_at is not None else window.start
    covered = tuple((c, r, "under_maintenance") for c, r in all_pairs
                    if any(scope_matches(scope, c, r) for scope in window.scopes))
    steps = [("scheduled", created, window.message)]
    if now >= window.start and window.effective_end > window.start:
        steps.append(("in_progress", window.start, STEP_WORDS["in_progress"]))
    if status == "completed":
        steps.append(("completed", window.effective_end, STEP_WORDS["completed"]))
    updates = tuple(
        UpdateView(window.id, step, body, at,
                   tuple((c, r, "operational" if step != "completed" else "under_maintenance",
                          "under_maintenance" if step == "in_progress" else "operational")
                         for c, r, _ in covered) if step != "scheduled" else (),
                   key=f"{window.id}-{step}")
        for step, at, body in steps)
    return IncidentView(id=window.id, title=window.title, status=status, impact="maintenance",
                        started_at=created, updated_at=max(at for _, at, _ in steps),
                        resolved_at=window.effective_end if status == "completed" else None,
                        components=covered, updates=updates, kind="maintenance",
                        scheduled_for=window.start, scheduled_until=window.end,
                        created_at=created, began_at=created)


def _window_changes(component: str, region: str, windows: Sequence[Window],
                    now: datetime) -> list[datetime]:
    """When windows put this pair under maintenance or took it out again, up to now."""
    return [at for w in windows if any(scope_matches(s, component, region) for s in w.scopes)
            and w.effective_end > w.start
            for at in (w.start, w.effective_end) if at <= now]


def no_bars(_session: Session, _component: str, _region: str, _first: date, _days: int,
            _now: datetime) -> Sequence[DayBar]:
    return ()


def load_status_page(session: Session, title: str, url: str, regions: Sequence[str],
                     now: datetime, region: str | None = None,
                     daily_bars: DailyBars = no_bars) -> StatusPage:
    """Read everything the page shows and build it (for all regions, or one; the 90-day
    bars only for the regions shown)."""
    pairs = public_components(session, regions)
    states = probes_store.states(session)
    times = probes_store.state_times(session)
    page_start = min((created for created, _ in times.values()), default=None)
    shown_windows = _recent_window_rows(session, now)
    windows = [w for w, _ in shown_windows]
    first_day = (now - timedelta(days=HISTORY_DAYS - 1)).date()
    components = []
    for component, pair_region in pairs:
        known = states.get((component, pair_region))
        state = displayed_state(known.state if known else "operational", component,
                                pair_region, windows, now)
        bars: tuple[DayBar, ...] = ()
        if region is None or pair_region == region:
            bars = tuple(daily_bars(session, component, pair_region, first_day,
                                    HISTORY_DAYS, now))
        created, changed = times.get((component, pair_region), (page_start, page_start))
        changes = [t for t in (changed, *_window_changes(component, pair_region, windows, now))
                   if t is not None]
        components.append(ComponentView(
            component, pair_region, tier_of(component), state,
            known.since if known else None, bars, uptime_of(bars),
            created_at=created, updated_at=max(changes, default=None)))
    incidents = [incident_view(row) for row in incident_rows(session)]
    maintenances = [maintenance_view(w, pairs, now, created) for w, created in shown_windows]
    return build_status_page(title, url, regions, components, incidents, maintenances, now,
                             region)
