"""Burn-rate alerts as incidents: one page per root-cause episode.

reports decides which (component, region)s burn their error budget too fast (spec §7);
this module, which owns the incident tables, decides what that means for on-call:

- a pair whose burn an outage explains (an automatic incident of it or of its root in
  that region, open or resolved within the alert's longest window) gets an internal note
  on that incident, shown to on-call, and no page of its own;
- the other pairs (a slow burn no outage incident explains) are grouped by region, like
  outages: one incident of origin `burn_rate` per (region, level), which pages once; it
  reopens instead of paging again when the same region and level burn again the same day.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from core.config import Settings
from status import store
from status.incidents import IncidentStatus, Origin, upstream
from status.models import Incident, IncidentComponent

#: Each alert level's incident impact: a page is major, a ticket minor (Tier 2 key, warning).
IMPACTS = {"page": "major", "ticket": "minor"}


@dataclass(frozen=True, slots=True)
class Burn:
    """A (component, region) whose budget burns at `level` ("page" or "ticket"); `text`
    says how fast, `window` is the level's longest window."""

    component: str
    region: str
    level: str
    text: str
    window: timedelta


def explains(incident: Incident, component: str, region: str) -> bool:
    """Whether an outage incident explains a pair's burn: it tracks the pair, or a component
    the pair needs, in that region."""
    return any(c.region == region and (c.component == component
                                       or c.component in upstream(component))
               for c in incident.components)


def _outages_since(session: Session, since: datetime) -> list[Incident]:
    return list(session.scalars(
        select(Incident).options(selectinload(Incident.components),
                                 selectinload(Incident.updates))
        .where(Incident.origin == Origin.AUTOMATIC.value,
               or_(Incident.resolved_at.is_(None), Incident.resolved_at >= since))
        .order_by(Incident.id)))


def _burn_incidents(session: Session, day_start: datetime) -> list[Incident]:
    """Burn-rate incidents open now or opened today (UTC)."""
    return list(session.scalars(
        select(Incident).options(selectinload(Incident.components),
                                 selectinload(Incident.pages))
        .where(Incident.origin == Origin.BURN_RATE.value,
               or_(Incident.resolved_at.is_(None), Incident.opened_at >= day_start))
        .order_by(Incident.id)))


def _region_of(incident: Incident) -> str:
    return incident.components[0].region if incident.components else ""


def _note(session: Session, incident: Incident, burn: Burn, now: datetime,
          settings: Settings) -> int:
    """An internal note on the outage incident, once per pair and level."""
    marker = f"[burn-rate {burn.level}] {burn.component} ({burn.region})"
    if any(u.internal and u.body.startswith(marker) for u in incident.updates):
        return 0
    store.add_update(session, incident, incident.status,
                     f"{marker}: {burn.text}. Part of this incident; no separate page.", now,
                     settings, automatic=True, internal=True)
    return 1


def apply_burns(session: Session, burns: Sequence[Burn], regions: Sequence[str],
                now: datetime, settings: Settings) -> int:
    """Bring burn-rate incidents in line with the pairs burning now; how many changed.

    The caller holds the burn-rate lock (one worker decides at a time).
    """
    longest = max((b.window for b in burns), default=timedelta(hours=1))
    outages = _outages_since(session, now - longest) if burns else []
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    by_level: dict[tuple[str, str], list[Burn]] = defaultdict(list)
    changed = 0
    for burn in burns:
        since = now - burn.window
        outage = next((i for i in reversed(outages)
                       if (i.resolved_at is None or i.resolved_at >= since)
                       and explains(i, burn.component, burn.region)), None)
        if outage is not None:
            changed += _note(session, outage, burn, now, settings)
        else:
            by_level[(burn.region, burn.level)].append(burn)
    known = _burn_incidents(session, day_start)
    for region in sorted({*regions, *(r for r, _ in by_level), *map(_region_of, known)}):
        for level, impact in IMPACTS.items():
            mine = [i for i in known if _region_of(i) == region and i.impact == impact]
            changed += _follow(session, mine, by_level.get((region, level), []), region,
                               level, now, settings)
    return changed


def _follow(session: Session, mine: Sequence[Incident], burning: Sequence[Burn],
            region: str, level: str, now: datetime, settings: Settings) -> int:
    """One region and level: open (page once), extend, reopen the same day, or resolve."""
    current = next((i for i in mine if i.resolved_at is None), None)
    if not burning:
        if current is None:
            return 0
        current.status, current.resolved_at = IncidentStatus.RESOLVED.value, now
        for part in current.components:
            part.recovered_at = part.recovered_at or now
        closing = store.add_update(session, current, IncidentStatus.RESOLVED.value,
                               "The error budget no longer burns too fast.", now, settings,
                               automatic=True, notify=False)
        store.page(session, current, "resolve", closing.id, settings, now)
        return 1
    names = ", ".join(b.component for b in burning)
    what = "burning fast" if level == "page" else "burning"
    title = f"Error budget {what} in {region}: {names}"[:200]
    affected = [(b.component, region, "partial_outage") for b in burning]
    if current is None and mine:  # the same region and level burned earlier today
        current = max(mine, key=lambda i: i.id)
        current.resolved_at, current.reopened_at = None, now
        store.add_update(session, current, IncidentStatus.INVESTIGATING.value,
                         "The error budget burns too fast again (paged once a day at most).",
                         now, settings, automatic=True, notify=False)
    if current is not None:
        added = store.add_components(current, affected, now)
        burning_keys = {(c, r) for c, r, _ in affected}
        for part in current.components:
            part.recovered_at = (None if (part.component, part.region) in burning_keys
                                 else part.recovered_at or now)
        current.title = title
        return int(bool(added))
    incident = Incident(title=title, impact=IMPACTS[level],
                        status=IncidentStatus.INVESTIGATING.value,
                        origin=Origin.BURN_RATE.value, root_component=burning[0].component,
                        public_message="", opened_at=now, updated_at=now)
    session.add(incident)
    store.add_components(incident, affected, now)
    first = store.add_update(session, incident, incident.status,
                             "; ".join(b.text for b in burning), now, settings,
                             automatic=True, notify=False)
    store.page(session, incident, "trigger", first.id, settings, now)
    return 1


def any_burn_open(session: Session) -> bool:
    """Whether any burn-rate incident is open (then a pass has something to follow)."""
    return session.scalar(select(Incident.id).where(
        Incident.origin == Origin.BURN_RATE.value, Incident.resolved_at.is_(None)).limit(1)
        ) is not None


def burning_pairs(session: Session) -> set[tuple[str, str, str]]:
    """(component, region, impact) of open burn-rate incidents, for reports' budgets page."""
    rows = session.execute(
        select(IncidentComponent.component, IncidentComponent.region, Incident.impact)
        .join(Incident).where(Incident.origin == Origin.BURN_RATE.value,
                              Incident.resolved_at.is_(None),
                              IncidentComponent.recovered_at.is_(None)))
    return {(c, r, i) for c, r, i in rows}
