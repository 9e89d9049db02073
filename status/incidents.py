"""Incidents as values (pure): impact, lifecycle, dependency-aware grouping, timelines.

A (component, region) entering `partial_outage` or `major_outage` joins an open automatic
incident or opens one. Failures behind a failing dependency in the same region belong to
the incident of that dependency (the root cause), and one root cause failing in several
regions is one incident. Nothing here reads the clock or the database: `now` is an argument.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from commerce.catalog import SERVICES, tier_of
from core.errors import BellwetherError

Key = tuple[str, str]
"""A (component, region)."""

FAILING_STATES = frozenset({"partial_outage", "major_outage"})
#: No longer an outage. Slow answers are a separate verdict (degraded_performance) and
#: never hold an outage incident open: it would strand its PagerDuty alert.
RECOVERED_STATES = frozenset({"operational", "degraded_performance", "under_maintenance"})
#: What a pair shows while Bellwether has no fresh checks of it: neither failing nor fine.
UNKNOWN_STATES = frozenset({"no_data"})
#: The synthetic shop transaction exercises these services, so it fails when they do.
TRANSACTION = "transaction"
TRANSACTION_DEPENDS_ON = ("auth", "carts", "orders", "messages")
STATE_WORDS = {"major_outage": "unavailable", "partial_outage": "failing intermittently"}


class Impact(enum.StrEnum):
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


IMPACT_RANK = {Impact.MINOR: 1, Impact.MAJOR: 2, Impact.CRITICAL: 3}


class IncidentStatus(enum.StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


class Origin(enum.StrEnum):
    AUTOMATIC = "automatic"
    DECLARED = "declared"
    #: Opened by an error-budget burn-rate alert (reports.jobs); it never stands in for an
    #: outage's own incident, which opens as usual.
    BURN_RATE = "burn_rate"


class IllegalTransition(BellwetherError):
    """An action the incident's lifecycle does not allow (e.g. updating a resolved one)."""

    status = 409
    code = "illegal_transition"


# --- dependencies ---------------------------------------------------------------------------

def dependencies(component: str) -> tuple[str, ...]:
    """What a component needs directly: the catalogue's `depends_on`, and the transaction's."""
    if component == TRANSACTION:
        return TRANSACTION_DEPENDS_ON
    service = SERVICES.get(component)
    return service.depends_on if service else ()


@cache
def upstream(component: str) -> frozenset[str]:
    """Everything a component needs, directly or through others.

    >>> sorted(upstream("orders"))
    ['auth', 'carts', 'products']
    """
    seen: set[str] = set()
    todo = list(dependencies(component))
    while todo:
        name = todo.pop()
        if name not in seen and name != component:
            seen.add(name)
            todo.extend(dependencies(name))
    return frozenset(seen)


def root_cause(component: str, failing: Collection[str]) -> str:
    """The failing component furthest upstream of `component` in one region (itself if none).

    >>> root_cause("orders", {"auth", "carts", "orders"})
    'auth'
    """
    candidates = upstream(component) & set(failing)
    if not candidates:
        return component
    roots = [name for name in candidates if not upstream(name) & candidates]
    return min(roots, key=lambda name: (len(upstream(name)), name))


def shares_store(a: str, b: str) -> bool:
    """Whether two components write to their region's database, the one dependency the
    catalogue names by `writes` rather than as a component (a `database_down` fails both)."""
    first, second = SERVICES.get(a), SERVICES.get(b)
    return bool(first and second and first.writes and second.writes)


def linked(a: str, b: str) -> bool:
    """Whether the dependency model ties two failures to one cause: one needs the other,
    or both write to the region's database.

    >>> linked("orders", "auth"), linked("carts", "import"), linked("search", "audit-log")
    (True, True, False)
    """
    return a == b or a in upstream(b) or b in upstream(a) or shares_store(a, b)


# --- impact and wording ---------------------------------------------------------------------

def impact_of(component: str, state: str) -> Impact | None:
    """How bad one component's state is: a Tier 1 major outage is critical.

    >>> impact_of("audit-log", "major_outage")
    <Impact.MAJOR: 'major'>
    """
    tier_one = tier_of(component) == 1
    if state == "major_outage":
        return Impact.CRITICAL if tier_one else Impact.MAJOR
    if state == "partial_outage":
        return Impact.MAJOR if tier_one else Impact.MINOR
    if state == "degraded_performance":
        return Impact.MINOR
    return None


def worst_impact(states: Iterable[tuple[str, str]]) -> Impact | None:
    """The worst impact of (component, state) pairs; None when none of them is affected."""
    impacts = [i for i in (impact_of(c, s) for c, s in states) if i is not None]
    return max(impacts, key=IMPACT_RANK.__getitem__) if impacts else None


def raises_impact(before: str, after: str) -> bool:
    return IMPACT_RANK[Impact(after)] > IMPACT_RANK[Impact(before)]


def whole_regions(tracked: Sequence[Tracked], live: Mapping[Key, Live]) -> tuple[str, ...]:
    """Regions where every measured component is in a major outage and the incident tracks
    them all: such a region is unavailable, whatever its root cause."""
    failing = {t.key for t in tracked if t.state == "major_outage"}
    regions = {t.region for t in tracked}
    return tuple(sorted(
        region for region in regions
        if (keys := {key for key in live if key[1] == region}) and keys <= failing))


def automatic_title(root: str, tracked: Sequence[Tracked],
                    whole: Collection[str] = ()) -> str:
    """'auth unavailable in europe-west1.gcp': the root cause and where it fails; a region
    where everything fails is named as the region ('us-central1.gcp unavailable')."""
    own = [t for t in tracked if t.component == root and t.state in FAILING_STATES]
    shown = own or [t for t in tracked if t.state in FAILING_STATES] or list(tracked)
    regions = sorted({t.region for t in shown})
    if regions and set(regions) <= set(whole):
        return f"{', '.join(regions)} {STATE_WORDS['major_outage']}"[:200]
    worst = "major_outage" if any(t.state == "major_outage" for t in shown) else "partial_outage"
    return f"{root} {STATE_WORDS[worst]} in {', '.join(regions)}"[:200]


def downgrades(old_title: str, new_title: str) -> bool:
    """Whether `new_title` only tells of a milder state than `old_title` did.

    >>> downgrades("auth unavailable in eu", "auth failing intermittently in eu")
    True
    """
    major = STATE_WORDS["major_outage"]
    return major in old_title and major not in new_title


def automatic_message(root: str, tracked: Sequence[Tracked],
                      whole: Collection[str] = ()) -> str:
    """The public text of an automatic incident: what fails, where, the root cause, and
    what it affects."""
    affected = ", ".join(f"{t.component} ({t.region})" for t in tracked)
    title = automatic_title(root, tracked, whole)
    cause = "" if title.startswith(f"{root} ") else f" The root cause is {root}."
    return (f"Our probes see {title}.{cause} "
            f"Affected: {affected}. We are investigating.")


# --- tracking automatic incidents -----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Live:
    """The measured (or displayed) state of a (component, region) and since when it holds."""

    component: str
    region: str
    state: str
    since: datetime

    @property
    def key(self) -> Key:
        return (self.component, self.region)


@dataclass(frozen=True, slots=True)
class Tracked:
    """A (component, region) an incident affects, with its state and when it recovered."""

    component: str
    region: str
    state: str
    first_affected_at: datetime
    recovered_at: datetime | None = None

    @property
    def key(self) -> Key:
        return (self.component, self.region)


@dataclass(frozen=True, slots=True)
class OpenIncident:
    """An open automatic incident as the grouping sees it.

    >>> from datetime import UTC
    >>> t = datetime(2026, 10, 1, tzinfo=UTC)
    >>> OpenIncident(7, "auth", t, (Tracked("auth", "europe-west1.gcp", "major_outage", t),)).root
    'auth'
    """

    id: int
    root: str
    opened_at: datetime
    tracked: tuple[Tracked, ...]
    #: Set for an incident resolved within `incident_reopen_s`: its root failing again is
    #: the same episode, so the incident reopens instead of a new one opening.
    resolved_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Assignment:
    """Where newly failing (component, region)s go: `incident_id` None opens a new incident;
    an incident whose root differs from `root` is re-rooted to it."""

    root: str
    keys: tuple[Key, ...]
    incident_id: int | None


def _target(root: str, root_regions: set[str], incidents: Sequence[OpenIncident],
            key_regions: set[str], recent: Callable[[OpenIncident], bool],
            ) -> OpenIncident | None:
    """The open incident of `root`, else one about failures behind `root` where it fails,
    else the newest recently resolved incident of `root` (reopened: the same episode)."""
    open_ones = [i for i in incidents if i.resolved_at is None]
    # The same root failing in another region is the same story only while it begins close
    # to the incident, or where the incident already sees a failure.
    same = [i for i in open_ones if i.root == root
            and (recent(i) or any(t.recovered_at is None and t.region in key_regions
                                  for t in i.tracked))]
    if same:
        return min(same, key=lambda i: i.id)
    behind = [i for i in open_ones
              if any(t.recovered_at is None and t.region in root_regions
                     and root in upstream(t.component) for t in i.tracked)]
    if behind:
        return min(behind, key=lambda i: i.id)
    again = [i for i in incidents if i.resolved_at is not None and i.root == root]
    return max(again, key=lambda i: i.id) if again else None


def _correlated(keys: Sequence[Key], incidents: Sequence[OpenIncident], now: datetime,
                window: timedelta) -> OpenIncident | None:
    """An open incident opened within `window` of `now` with a failure in the same region
    that the dependency model links to one of `keys` (a database refusing writes under
    several services is one story; unrelated failures that happen to be near in time are
    not)."""
    recent = [i for i in incidents if i.resolved_at is None and now - i.opened_at <= window
              and any(t.recovered_at is None and t.region == region and linked(t.component, c)
                      for t in i.tracked for c, region in keys)]
    return min(recent, key=lambda i: i.id) if recent else None


def _linked_groups(a: Sequence[Key], b: Sequence[Key]) -> bool:
    return any(ra == rb and linked(ca, cb) for ca, ra in a for cb, rb in b)


def assign_failures(new: Iterable[Key], failing: Iterable[Key],
                    incidents: Sequence[OpenIncident], now: datetime | None = None,
                    correlate: timedelta = timedelta(0)) -> list[Assignment]:
    """Group newly failing (component, region)s by root cause and find each group's incident.

    `failing` is everything failing now (new or not, outside maintenance): a dependency
    that failed earlier is still the root of what fails behind it. Failures with no common
    root that begin within `correlate` of an open incident in their region join it, and
    those beginning in the same pass in one region open one incident together, but only
    where the dependency model links them (`linked`). `incidents` may hold recently
    resolved ones (`resolved_at` set): a root failing again reopens its incident.
    """
    failing_in: dict[str, set[str]] = defaultdict(set)
    for component, region in failing:
        failing_in[region].add(component)
    by_root: dict[str, list[Key]] = defaultdict(list)
    for component, region in sorted(set(new)):
        by_root[root_cause(component, failing_in[region])].append((component, region))
    assignments: list[Assignment] = []
    for root, keys in sorted(by_root.items(), key=lambda item: (-len(item[1]), item[0])):
        # Where `root` fails as a root: a region where it fails behind something else (auth
        # down under messages) is that other root's story, not this one's.
        root_regions = {region for region, names in failing_in.items()
                        if root in names and root_cause(root, names) == root}
        target = _target(root, root_regions, incidents, {region for _, region in keys},
                         lambda i: now is None or not correlate or now - i.opened_at <= correlate)
        if target is None and now is not None and correlate:
            target = _correlated(keys, incidents, now, correlate)
            if target is not None:
                root = target.root  # joining, not re-rooting
        if target is None:
            fresh = next((a for a in assignments if a.incident_id is None
                          and _linked_groups(a.keys, keys)), None)
            if fresh is not None and now is not None and correlate:
                assignments[assignments.index(fresh)] = replace(
                    fresh, keys=(*fresh.keys, *keys))
                continue
        assignments.append(Assignment(root, tuple(keys), target.id if target else None))
    return assignments


def awaiting_root(new: Iterable[Key], live: Mapping[Key, Live], now: datetime,
                  wait: timedelta) -> set[Key]:
    """Newly failing pairs that hold back for `wait` after their failure began, because a
    component they need may be failing too without its confirmation in yet: the transaction
    or messages often confirm a second before auth does, and would otherwise open (and
    page) an incident of their own. What waits is decided by the pair's root in its region:
    a root needing nothing (auth) never waits.
    """
    failing_in: dict[str, set[str]] = defaultdict(set)
    for (component, region), value in live.items():
        if value.state in FAILING_STATES:
            failing_in[region].add(component)
    held = set()
    for component, region in new:
        root = root_cause(component, failing_in[region])
        current = live.get((root, region))
        if dependencies(root) and current is not None and now - current.since < wait:
            held.add((component, region))  # its root may itself be behind something
    return held


def track(tracked: Sequence[Tracked], live: Mapping[Key, Live], now: datetime,
          ) -> tuple[Tracked, ...]:
    """Follow the live (displayed) state of every affected (component, region)."""
    result = []
    for item in tracked:
        current = live.get(item.key)
        state = current.state if current else item.state
        if state in UNKNOWN_STATES:
            result.append(replace(item, state=state))
        elif state in RECOVERED_STATES:
            since = current.since if current else now
            result.append(replace(item, state=state, recovered_at=item.recovered_at or since))
        else:
            result.append(replace(item, state=state, recovered_at=None))
    return tuple(result)


def episode_status(tracked: Sequence[Tracked], current: str) -> str:
    """An automatic incident's status from what it tracks: `monitoring` while everything
    works again but the cool-down runs, `investigating` while anything still fails."""
    if current == IncidentStatus.RESOLVED:
        return current
    if any(t.state in FAILING_STATES for t in tracked):
        return (IncidentStatus.INVESTIGATING if current == IncidentStatus.MONITORING
                else current)
    return IncidentStatus.MONITORING


def recovered_for(tracked: Sequence[Tracked], live: Mapping[Key, Live], now: datetime,
                  cooldown: timedelta) -> bool:
    """True when every affected (component, region) has been fine for the whole cool-down.

    Under maintenance counts as fine, and so does slow (degraded_performance is not an
    outage); a series no longer measured cannot hold it open, nor can one without fresh
    data (paged as no_data on its own) unless nothing at all is measured.
    """
    seen = 0
    for item in tracked:
        current = live.get(item.key)
        if current is None:
            continue
        if current.state in UNKNOWN_STATES:
            continue
        seen += 1
        if current.state == "under_maintenance":
            continue
        if current.state not in RECOVERED_STATES or now - current.since < cooldown:
            return False
    measured = any(live.get(t.key) is not None for t in tracked)
    return bool(tracked) and (seen > 0 or not measured)


def first_failing_check(checks: Iterable[tuple[str, datetime, bool]], until: datetime,
                        ) -> datetime | None:
    """When the failure run each location was in at `until` began; the earliest of them.

    `checks` are (location, at, ok). A location whose last check by `until` passed was not
    failing and does not count.
    """
    per_location: dict[str, list[tuple[datetime, bool]]] = defaultdict(list)
    for location, at, ok in checks:
        if at <= until:
            per_location[location].append((at, ok))
    starts = []
    for series in per_location.values():
        start: datetime | None = None
        for at, ok in sorted(series, key=lambda item: (item[0], item[1])):
            start = None if ok else (start or at)
        if start is not None:
            starts.append(start)
    return min(starts) if starts else None


# --- lifecycle ------------------------------------------------------------------------------

def check_open(status: str, action: str) -> None:
    """Refuse to change a resolved incident."""
    if status == IncidentStatus.RESOLVED:
        raise IllegalTransition(f"the incident is resolved; it cannot {action}")


def check_acknowledge(status: str, acknowledged_at: datetime | None) -> None:
    check_open(status, "be acknowledged")
    if acknowledged_at is not None:
        raise IllegalTransition("the incident is acknowledged already")


def check_take_over(origin: str, status: str) -> None:
    check_open(status, "be taken over")
    if origin != Origin.AUTOMATIC:
        raise IllegalTransition("only automatic incidents can be taken over")


# --- timeline -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Timeline:
    """An incident's timeline and its figures; each figure is None until it can be known.

    Acknowledge and resolve count from opening, as the recovery objectives do (sla.recovery).

    >>> from datetime import UTC
    >>> t = datetime(2026, 10, 1, tzinfo=UTC)
    >>> Timeline(t, t + timedelta(seconds=45), None, None).time_to_detect
    datetime.timedelta(seconds=45)
    """

    first_failure_at: datetime | None
    opened_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None

    @property
    def time_to_detect(self) -> timedelta | None:
        if self.first_failure_at is None:
            return None
        return max(timedelta(0), self.opened_at - self.first_failure_at)

    @property
    def time_to_acknowledge(self) -> timedelta | None:
        return None if self.acknowledged_at is None else self.acknowledged_at - self.opened_at

    @property
    def time_to_resolve(self) -> timedelta | None:
        return None if self.resolved_at is None else self.resolved_at - self.opened_at

    def to_json(self) -> dict[str, Any]:
        def when(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        def seconds(value: timedelta | None) -> float | None:
            return value.total_seconds() if value is not None else None

        return {"first_failure_at": when(self.first_failure_at),
                "opened_at": when(self.opened_at),
                "acknowledged_at": when(self.acknowledged_at),
                "resolved_at": when(self.resolved_at),
                "time_to_detect_s": seconds(self.time_to_detect),
                "time_to_acknowledge_s": seconds(self.time_to_acknowledge),
                "time_to_resolve_s": seconds(self.time_to_resolve)}


def format_duration(value: timedelta | None) -> str:
    """'4 min 5 s', for pages; '—' when not known yet."""
    if value is None:
        return "—"
    total = int(value.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
