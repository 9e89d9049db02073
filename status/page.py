"""The public status page as one value: HTML, Statuspage JSON, Atom and the static copy are
all rendered from a `StatusPage`, so they can never disagree (pure: no Flask, no database).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime

TIER_NAMES = {1: "Tier 1: selling", 2: "Tier 2: supporting"}
STATES = ("operational", "degraded_performance", "partial_outage", "major_outage",
          "under_maintenance", "no_data")
STATE_WORDS = {
    "operational": "Operational",
    "degraded_performance": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
    "under_maintenance": "Under maintenance",
    "no_data": "Data delayed",
    "monitoring": "Monitoring",
}
#: `no_data` (no fresh checks from a quorum of locations) ranks above maintenance and below
#: every failure: it is never Operational, and never claims an outage either.
_RANK = {"operational": 0, "under_maintenance": 1, "no_data": 2, "degraded_performance": 3,
         "partial_outage": 4, "major_outage": 5}
#: What Statuspage calls a state in its public JSON: it has no word for "we cannot see it",
#: so `no_data` counts as the mildest failure there (README, "Data delayed").
STATUSPAGE_STATE = {"no_data": "degraded_performance"}
#: Statuspage's top-level indicators, mildest first, and the description each incident impact
#: gives the page when it is worse than what the components say (docs/compatibility.md).
INDICATORS = ("none", "maintenance", "minor", "major", "critical")
IMPACT_DESCRIPTION = {"minor": "Minor Service Outage", "major": "Partial System Outage",
                      "critical": "Major System Outage"}
ALL_OPERATIONAL = ("none", "All Systems Operational")


@dataclass(frozen=True, slots=True)
class DayBar:
    """One day of the 90-day bar: its uptime from the SLA's minute verdicts, worst state."""

    day: date
    eligible_minutes: int
    down_minutes: int
    no_data_minutes: int
    worst: str
    incidents: tuple[str, ...] = ()

    @property
    def uptime_pct(self) -> float | None:
        """None for a day without a single checked minute (nothing to show)."""
        if self.eligible_minutes == 0 or self.no_data_minutes >= self.eligible_minutes:
            return None
        return 100 * (self.eligible_minutes - self.down_minutes) / self.eligible_minutes

    @property
    def label(self) -> str:
        """The day's words, as short as they can say it: 720 of them make a region page."""
        uptime = "no data" if self.uptime_pct is None else f"{self.uptime_pct:.2f} % uptime"
        down = f", {self.down_minutes} min down" if self.down_minutes else ""
        text = f"{self.day.isoformat()}: {uptime}{down}"
        return text + "".join(f"; incident: {title}" for title in self.incidents)


@dataclass(frozen=True, slots=True)
class ComponentView:
    """A component in a region as the public sees it."""

    component: str
    region: str
    tier: int
    state: str
    since: datetime | None
    bars: tuple[DayBar, ...] = ()
    uptime_pct: float | None = None
    #: When the page first knew the component, and when its shown status last changed
    #: (Statuspage's `created_at` and `updated_at`); None before anything was recorded.
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def name(self) -> str:
        """The contract's Statuspage name: "<service> (<region>)"."""
        return f"{self.component} ({self.region})"

    @property
    def words(self) -> str:
        return STATE_WORDS.get(self.state, self.state)

    @property
    def uptime_since(self) -> date | None:
        """The first day the uptime counts from while the bars' first day has no data yet
        (a new instance, a new component); None once every day shown could have data."""
        first = first_day_with_data(self.bars)
        return first if first is not None and first != self.bars[0].day else None


@dataclass(frozen=True, slots=True)
class UpdateView:
    """A public update; `affected` holds (component, region, old status, new status) of the
    components it reports on, `key` its id when the update is derived (maintenance steps)."""

    id: int
    status: str
    body: str
    created_at: datetime
    affected: tuple[tuple[str, str, str, str], ...] = ()
    key: str | None = None


@dataclass(frozen=True, slots=True)
class IncidentView:
    """An incident or a maintenance window; `kind` tells which."""

    id: int
    title: str
    status: str
    impact: str
    started_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    components: tuple[tuple[str, str, str], ...]
    updates: tuple[UpdateView, ...] = ()
    kind: str = "incident"
    scheduled_for: datetime | None = None
    scheduled_until: datetime | None = None
    origin: str = "declared"
    #: When it was recorded (a maintenance: when it was scheduled), and when the trouble
    #: began (an automatic incident's first failed check); None: `started_at`.
    created_at: datetime | None = None
    began_at: datetime | None = None

    @property
    def regions(self) -> frozenset[str]:
        return frozenset(region for _, region, _ in self.components)

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None and self.status not in ("resolved", "completed",
                                                                "cancelled")

    @property
    def is_monitoring(self) -> bool:
        """Open, and watching a recovery (an automatic incident's cool-down)."""
        return self.is_open and self.kind == "incident" and self.status == "monitoring"


@dataclass(frozen=True, slots=True)
class RegionView:
    """A region's banner: its worst component state, or "monitoring" while an incident that
    touches it watches a recovery and nothing worse is shown (never plain Operational)."""

    name: str
    state: str
    tiers: tuple[tuple[int, tuple[ComponentView, ...]], ...]
    monitoring: bool = False

    @property
    def components(self) -> tuple[ComponentView, ...]:
        return tuple(c for _, components in self.tiers for c in components)

    @property
    def shown_state(self) -> str:
        return "monitoring" if self.monitoring and self.state == "operational" else self.state

    @property
    def words(self) -> str:
        return STATE_WORDS.get(self.shown_state, self.shown_state)


@dataclass(frozen=True, slots=True)
class StatusPage:
    """Everything one rendering of the public page shows."""

    title: str
    url: str
    generated_at: datetime
    regions: tuple[RegionView, ...]
    incidents: tuple[IncidentView, ...]
    maintenances: tuple[IncidentView, ...]
    indicator: str = "none"
    description: str = "All Systems Operational"
    extra: Mapping[str, object] = field(default_factory=dict)
    #: Every region's components (an incident on a region page may name others).
    all_components: tuple[ComponentView, ...] = ()

    @property
    def components(self) -> tuple[ComponentView, ...]:
        return tuple(c for region in self.regions for c in region.components)

    @property
    def active_incidents(self) -> tuple[IncidentView, ...]:
        return tuple(i for i in self.incidents if i.is_open)

    @property
    def resolved_incidents(self) -> tuple[IncidentView, ...]:
        return tuple(i for i in self.incidents if not i.is_open)

    def region(self, name: str) -> RegionView | None:
        return next((r for r in self.regions if r.name == name), None)


def worst_state(states: Iterable[str]) -> str:
    """The most severe state; operational when there is none."""
    return max(states, key=lambda s: _RANK.get(s, 0), default="operational")


#: Statuspage's top-level status of a page of two or more components, first rule that
#: holds: whether every component, or some, is in the state (docs/compatibility.md).
BLEND_RULES = (
    ("every", "major_outage", ("critical", "Major System Outage")),
    ("some", "major_outage", ("major", "Partial System Outage")),
    ("every", "partial_outage", ("major", "Partial System Outage")),
    ("some", "partial_outage", ("minor", "Minor Service Outage")),
    ("every", "degraded_performance", ("minor", "Degraded System Service")),
    ("some", "degraded_performance", ("minor", "Partially Degraded Service")),
    ("some", "under_maintenance", ("maintenance", "Service Under Maintenance")),
)
#: The same of a page of one component.
SINGLE = {"under_maintenance": ("maintenance", "Service Under Maintenance"),
          "degraded_performance": ("minor", "Partially Degraded Service"),
          "partial_outage": ("major", "Partial System Outage"),
          "major_outage": ("critical", "Major System Outage")}


def _blend(states: Sequence[str]) -> tuple[str, str]:
    """Statuspage's top-level status from its (non-group) components' statuses: one
    component speaks for itself; with more, "every" and "some" read differently."""
    if len(states) == 1:
        return SINGLE.get(states[0], ALL_OPERATIONAL)
    for quantifier, state, result in BLEND_RULES:
        holds = all if quantifier == "every" else any
        if states and holds(s == state for s in states):
            return result
    return ALL_OPERATIONAL


def indicator_for(states: Iterable[str], impacts: Iterable[str] = ()) -> tuple[str, str]:
    """Statuspage's page indicator and description (docs/compatibility.md): the blend of the
    components' statuses (`no_data` counts as degraded performance), raised to the worst
    impact of the unresolved incidents when that is worse.

    >>> indicator_for(["major_outage", "operational"])
    ('major', 'Partial System Outage')
    >>> indicator_for(["operational", "operational"], ["minor"])
    ('minor', 'Minor Service Outage')
    """
    blended = _blend([STATUSPAGE_STATE.get(s, s) for s in states])
    worst = max((i for i in impacts if i in IMPACT_DESCRIPTION), key=INDICATORS.index,
                default=None)
    if worst is not None and INDICATORS.index(worst) > INDICATORS.index(blended[0]):
        return worst, IMPACT_DESCRIPTION[worst]
    return blended


def with_declared_states(components: Sequence[ComponentView],
                         incidents: Iterable[IncidentView]) -> list[ComponentView]:
    """Components with the states open declared incidents give them, where those are worse
    than the measured state: a support engineer's "major outage" is what the page says,
    even while the probes still pass (Statuspage's own rule). A component's `updated_at`
    moves to when such an incident began, or resolved (its stated state then ended)."""
    declared: dict[tuple[str, str], tuple[str, datetime]] = {}
    ended: dict[tuple[str, str], datetime] = {}
    for incident in incidents:
        if incident.kind != "incident" or incident.origin != "declared":
            continue
        for component, region, state in incident.components:
            key = (component, region)
            if incident.resolved_at is not None:
                ended[key] = max(ended.get(key, incident.resolved_at), incident.resolved_at)
            elif incident.is_open and not incident.is_monitoring:
                known, since = declared.get(key, ("operational", incident.started_at))
                declared[key] = (worst_state([known, state]), max(since, incident.started_at))
    shown = []
    for view in components:
        key = (view.component, view.region)
        stated = declared.get(key)
        if stated is not None and _RANK.get(stated[0], 0) > _RANK.get(view.state, 0):
            view = replace(view, state=stated[0], updated_at=_latest(view.updated_at,
                                                                     stated[1]))
        elif key in ended and (view.since is None or ended[key] > view.since):
            view = replace(view, updated_at=_latest(view.updated_at, ended[key]))
        shown.append(view)
    return shown


def _latest(*times: datetime | None) -> datetime | None:
    return max((t for t in times if t is not None), default=None)


def _region_view(name: str, components: Sequence[ComponentView],
                 monitoring: bool = False) -> RegionView:
    tiers = tuple((tier, tuple(sorted((c for c in components if c.tier == tier),
                                      key=lambda c: c.component)))
                  for tier in sorted({c.tier for c in components}))
    return RegionView(name, worst_state(c.state for c in components), tiers, monitoring)


def build_status_page(title: str, url: str, regions: Sequence[str],
                      components: Sequence[ComponentView], incidents: Sequence[IncidentView],
                      maintenances: Sequence[IncidentView], now: datetime,
                      region: str | None = None) -> StatusPage:
    """The page for all regions, or for one (`region`): only what touches it.

    The region banners come from the measured states and the states of open declared
    incidents, and an open incident in `monitoring` shows its regions as monitoring; the
    page's indicator follows Statuspage's rules over the same states and the impacts of
    the unresolved incidents (`indicator_for`).
    """
    chosen = [r for r in regions if region is None or r == region]
    wanted = set(chosen)
    page_incidents = tuple(i for i in incidents if region is None or i.regions & wanted)
    everywhere = with_declared_states(components, incidents)
    shown = [c for c in everywhere if c.region in chosen]
    page_maintenance = tuple(m for m in maintenances
                             if region is None or not m.regions or m.regions & wanted)
    watching = {r for i in page_incidents if i.is_monitoring for r in i.regions}
    indicator, description = indicator_for(
        [c.state for c in shown],
        [i.impact for i in page_incidents if i.is_open and i.kind == "incident"])
    return StatusPage(
        title=title, url=url, generated_at=now,
        regions=tuple(_region_view(r, [c for c in shown if c.region == r], r in watching)
                      for r in chosen),
        incidents=page_incidents, maintenances=page_maintenance,
        indicator=indicator, description=description, all_components=tuple(everywhere))


def first_day_with_data(bars: Sequence[DayBar]) -> date | None:
    """The first day with a checked minute, None when there is none."""
    return next((b.day for b in bars if b.uptime_pct is not None), None)


def uptime_of(bars: Sequence[DayBar]) -> float | None:
    """Uptime over the bars' days since the first with a checked minute, as the SLA counts
    it: minutes summed first, divided once, no-data minutes available (spec §5, §8). The
    days before Bellwether had any data are left out: counted as available, 89 empty days
    and an hour of outage made "99.999 % uptime". None before any day has data."""
    first = first_day_with_data(bars)
    if first is None:
        return None
    counted = [b for b in bars if b.day >= first]
    eligible = sum(b.eligible_minutes for b in counted)
    down = sum(b.down_minutes for b in counted)
    return 100 * (eligible - down) / eligible if eligible else None
