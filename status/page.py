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
_INDICATOR = {0: ("none", "All Systems Operational"),
              1: ("maintenance", "Service Under Maintenance"),
              2: ("minor", "Status Data Delayed"),
              3: ("minor", "Minor Service Outage"), 4: ("major", "Partial System Outage"),
              5: ("critical", "Major System Outage")}
MONITORING = ("minor", "Monitoring a Recent Incident")


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

    @property
    def name(self) -> str:
        """The contract's Statuspage name: "<service> (<region>)"."""
        return f"{self.component} ({self.region})"

    @property
    def words(self) -> str:
        return STATE_WORDS.get(self.state, self.state)


@dataclass(frozen=True, slots=True)
class UpdateView:
    id: int
    status: str
    body: str
    created_at: datetime


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


def indicator_for(states: Iterable[str], monitoring: bool = False) -> tuple[str, str]:
    """Statuspage's overall indicator and description for a set of component states;
    `monitoring` (an open incident watching a recovery) keeps an all-green page from
    saying "All Systems Operational"."""
    rank = _RANK.get(worst_state(states), 0)
    if rank == 0 and monitoring:
        return MONITORING
    indicator, description = _INDICATOR[rank]
    return ("none" if indicator == "maintenance" else indicator), description


def with_declared_states(components: Sequence[ComponentView],
                         incidents: Iterable[IncidentView]) -> list[ComponentView]:
    """Components with the states open declared incidents give them, where those are worse
    than the measured state: a support engineer's "major outage" is what the page says,
    even while the probes still pass (Statuspage's own rule)."""
    declared: dict[tuple[str, str], str] = {}
    for incident in incidents:
        if not incident.is_open or incident.kind != "incident" or incident.is_monitoring \
                or incident.origin != "declared":
            continue
        for component, region, state in incident.components:
            key = (component, region)
            declared[key] = worst_state([declared.get(key, "operational"), state])
    shown = []
    for view in components:
        stated = declared.get((view.component, view.region))
        if stated is not None and _RANK.get(stated, 0) > _RANK.get(view.state, 0):
            view = replace(view, state=stated)
        shown.append(view)
    return shown


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

    The indicator and the region banners come from the measured states and the states of
    open declared incidents; an open incident in `monitoring` shows as monitoring.
    """
    chosen = [r for r in regions if region is None or r == region]
    wanted = set(chosen)
    page_incidents = tuple(i for i in incidents if region is None or i.regions & wanted)
    shown = with_declared_states([c for c in components if c.region in chosen],
                                 page_incidents)
    page_maintenance = tuple(m for m in maintenances
                             if region is None or not m.regions or m.regions & wanted)
    watching = {r for i in page_incidents if i.is_monitoring for r in i.regions}
    indicator, description = indicator_for((c.state for c in shown), bool(watching))
    return StatusPage(
        title=title, url=url, generated_at=now,
        regions=tuple(_region_view(r, [c for c in shown if c.region == r], r in watching)
                      for r in chosen),
        incidents=page_incidents, maintenances=page_maintenance,
        indicator=indicator, description=description)


def uptime_of(bars: Sequence[DayBar]) -> float | None:
    """Uptime over the bars' days as the SLA counts it: minutes summed first, divided once,
    no-data minutes available (spec §5, §8); None before any day has a checked minute."""
    if all(b.uptime_pct is None for b in bars):
        return None
    eligible = sum(b.eligible_minutes for b in bars)
    return 100 * (eligible - sum(b.down_minutes for b in bars)) / eligible if eligible else None
