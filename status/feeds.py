"""Statuspage-compatible JSON (public API v2: its endpoints, field names, values and
meanings) and Atom and RSS feeds, all from one `StatusPage` value.

Nothing here reads the clock: every time written is a time something happened (a state
change, an incident update, a maintenance step), so a document, its ETag and a feed's
`<updated>` change only when what they say does. Times are written as Statuspage writes
them, ISO 8601 in UTC with milliseconds: `2026-12-03T10:15:02.123Z` (docs/compatibility.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from feedgen.feed import FeedGenerator

from status.page import (
    STATUSPAGE_STATE,
    ComponentView,
    IncidentView,
    StatusPage,
    UpdateView,
    worst_state,
)

PAGE_ID = "bellwether"
DELAYED_NOTE = ("data delayed: Bellwether has no fresh checks from a majority of its probe "
                "locations, so it cannot say whether this component works")
#: Statuspage's maintenance lists: what `upcoming.json` and `active.json` hold.
UPCOMING = frozenset({"scheduled"})
ACTIVE = frozenset({"in_progress", "verifying"})
#: A feed's `<updated>` when the page has never recorded anything (a stable value, never
#: the time of rendering).
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def statuspage_status(state: str) -> str:
    """The contract's component status for a live state (never `operational` for no_data:
    Statuspage has no status for "we cannot see it", so it reads degraded_performance, with
    the reason in the component's description; README, "Data delayed")."""
    return STATUSPAGE_STATE.get(state, state)


def timestamp(value: datetime | None) -> str | None:
    """Statuspage's one time format: UTC, milliseconds always, `Z` (naive means UTC).

    >>> timestamp(datetime(2026, 12, 3, 10, 15, 2, 123456, tzinfo=UTC))
    '2026-12-03T10:15:02.123Z'
    >>> timestamp(datetime(2026, 12, 3, 10, 15, tzinfo=UTC))
    '2026-12-03T10:15:00.000Z'
    """
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _latest(times: Iterable[datetime | None]) -> datetime | None:
    return max((t for t in times if t is not None), default=None)


def content_updated_at(page: StatusPage) -> datetime | None:
    """When anything the page says last changed: a component's status, an incident or a
    maintenance (None before anything was recorded)."""
    return _latest([*(c.updated_at for c in page.components),
                    *(i.updated_at for i in page.incidents),
                    *(m.updated_at for m in page.maintenances)])


def page_json(page: StatusPage) -> dict[str, Any]:
    return {"id": PAGE_ID, "name": page.title, "url": page.url, "time_zone": "Etc/UTC",
            "updated_at": timestamp(content_updated_at(page))}


def component_id(component: str, region: str) -> str:
    return f"{component}.{region}"


def group_id(region: str) -> str:
    """A region's group component: its name, which no "<service>.<region>" id can be."""
    return region


def component_json(view: ComponentView, position: int) -> dict[str, Any]:
    description = f"{view.component} in {view.region}, tier {view.tier}"
    if view.state == "no_data":
        description += f"; {DELAYED_NOTE}"
    return {"id": component_id(view.component, view.region), "name": view.name,
            "status": statuspage_status(view.state), "created_at": timestamp(view.created_at),
            "updated_at": timestamp(view.updated_at), "position": position,
            "description": description,
            "showcase": True, "start_date": None, "group_id": group_id(view.region),
            "page_id": PAGE_ID, "group": False, "only_show_if_degraded": False,
            "uptime_90d_pct": None if view.uptime_pct is None else float(
                Decimal(str(view.uptime_pct)).quantize(Decimal("0.0001"), ROUND_HALF_EVEN))}


def group_json(region: str, members: list[ComponentView], position: int) -> dict[str, Any]:
    """A region as Statuspage's group component: its members' ids, their worst status,
    created with the first of them and updated with the last change of any."""
    return {"id": group_id(region), "name": region,
            "status": statuspage_status(worst_state(m.state for m in members)),
            "created_at": timestamp(min((m.created_at for m in members
                                         if m.created_at is not None), default=None)),
            "updated_at": timestamp(_latest(m.updated_at for m in members)),
            "position": position, "description": f"Every component in {region}",
            "showcase": False, "start_date": None, "group_id": None, "page_id": PAGE_ID,
            "group": True, "only_show_if_degraded": False,
            "components": [component_id(m.component, m.region) for m in members]}


def _component_objects(page: StatusPage) -> list[dict[str, Any]]:
    """Each region's group component, then its members (positions count within a group)."""
    objects = []
    for number, region in enumerate(page.regions, start=1):
        members = list(region.components)
        if not members:
            continue
        objects.append(group_json(region.name, members, number))
        objects.extend(component_json(c, i) for i, c in enumerate(members, start=1))
    return objects


def _component_lookup(page: StatusPage) -> dict[tuple[str, str], dict[str, Any]]:
    """Full component objects by (component, region), every region's (as components.json
    writes them), for the components an incident names."""
    known = page.all_components or page.components
    by_region: dict[str, list[ComponentView]] = {}
    for view in known:
        by_region.setdefault(view.region, []).append(view)
    return {(v.component, v.region): component_json(v, i)
            for views in by_region.values() for i, v in enumerate(views, start=1)}


def _affected(update: UpdateView) -> list[dict[str, Any]] | None:
    if not update.affected:
        return None  # Statuspage writes null for an update that names no component
    return [{"code": component_id(c, r), "name": f"{c} ({r})",
             "old_status": statuspage_status(old), "new_status": statuspage_status(new)}
            for c, r, old, new in update.affected]


def monitoring_at(incident: IncidentView) -> datetime | None:
    """When the incident last went into monitoring: its latest `monitoring` update, kept
    after it resolved (as Statuspage keeps it); null if it never did."""
    watched = _latest(u.created_at for u in incident.updates if u.status == "monitoring")
    if watched is None and incident.status == "monitoring":
        return incident.updated_at
    return watched


def shortlink(page: StatusPage, incident: IncidentView) -> str:
    """A link to the incident's or the maintenance's own page (`/incidents/<id>`,
    `/maintenances/<id>`); feed entries link there too."""
    return f"{page.url}/{incident.kind}s/{incident.id}"


def _update_json(incident: IncidentView, update: UpdateView) -> dict[str, Any]:
    return {"id": update.key or str(update.id), "status": update.status, "body": update.body,
            "incident_id": str(incident.id), "created_at": timestamp(update.created_at),
            "updated_at": timestamp(update.created_at),
            "display_at": timestamp(update.created_at), "affected_components": _affected(update),
            "deliver_notifications": True, "custom_tweet": None, "tweet_id": None}


def incident_json(incident: IncidentView, page: StatusPage,
                  components: dict[tuple[str, str], dict[str, Any]] | None = None,
                  ) -> dict[str, Any]:
    """An incident, or a scheduled maintenance with its extra fields."""
    lookup = components if components is not None else _component_lookup(page)
    created = incident.created_at or incident.started_at
    body: dict[str, Any] = {
        "id": str(incident.id), "name": incident.title, "status": incident.status,
        "created_at": timestamp(created), "updated_at": timestamp(incident.updated_at),
        "monitoring_at": timestamp(monitoring_at(incident)),
        "resolved_at": timestamp(incident.resolved_at),
        "impact": incident.impact, "shortlink": shortlink(page, incident),
        "started_at": timestamp(incident.began_at or incident.started_at),
        "page_id": PAGE_ID,
        "incident_updates": [_update_json(incident, u) for u in sorted(
            incident.updates, key=lambda u: u.created_at, reverse=True)],
        "components": [lookup.get((c, r)) or _stub_component(c, r, state)
                       for c, r, state in incident.components],
    }
    if incident.kind == "maintenance":
        body["scheduled_for"] = timestamp(incident.scheduled_for)
        body["scheduled_until"] = timestamp(incident.scheduled_until)
    return body


def _stub_component(component: str, region: str, state: str) -> dict[str, Any]:
    """A component no longer listed (a probe since removed): what the incident knows."""
    return {"id": component_id(component, region), "name": f"{component} ({region})",
            "status": statuspage_status(state), "created_at": None, "updated_at": None,
            "position": 0, "description": None, "showcase": False, "start_date": None,
            "group_id": group_id(region), "page_id": PAGE_ID, "group": False,
            "only_show_if_degraded": False}


def _incidents(page: StatusPage, shown: Iterable[IncidentView]) -> list[dict[str, Any]]:
    lookup = _component_lookup(page)
    return [incident_json(i, page, lookup) for i in shown]


def status_json(page: StatusPage) -> dict[str, Any]:
    return {"page": page_json(page),
            "status": {"indicator": page.indicator, "description": page.description}}


def components_json(page: StatusPage) -> dict[str, Any]:
    return {"page": page_json(page), "components": _component_objects(page)}


def incidents_json(page: StatusPage, unresolved_only: bool = False) -> dict[str, Any]:
    shown = page.active_incidents if unresolved_only else page.incidents
    return {"page": page_json(page), "incidents": _incidents(page, shown)}


def maintenances_json(page: StatusPage, statuses: frozenset[str] | None = None,
                      ) -> dict[str, Any]:
    """Every recent maintenance, or those in `statuses` (UPCOMING, ACTIVE)."""
    shown = [m for m in page.maintenances if statuses is None or m.status in statuses]
    return {"page": page_json(page), "scheduled_maintenances": _incidents(page, shown)}


def summary_json(page: StatusPage) -> dict[str, Any]:
    return {**status_json(page),
            "components": _component_objects(page),
            "incidents": _incidents(page, page.active_incidents),
            "scheduled_maintenances": _incidents(
                page, [m for m in page.maintenances if m.status in UPCOMING | ACTIVE])}


#: The Statuspage v2 documents by their path under /api/v2 (without `.json`).
DOCUMENTS: dict[str, Callable[[StatusPage], dict[str, Any]]] = {
    "summary": summary_json, "status": status_json, "components": components_json,
    "incidents": incidents_json,
    "incidents/unresolved": lambda p: incidents_json(p, unresolved_only=True),
    "scheduled-maintenances": maintenances_json,
    "scheduled-maintenances/upcoming": lambda p: maintenances_json(p, UPCOMING),
    "scheduled-maintenances/active": lambda p: maintenances_json(p, ACTIVE),
}


def _feed(page: StatusPage, feed_url: str) -> FeedGenerator:
    """Incidents and maintenance, newest update first; every time is one something happened
    at (feedgen escapes the text)."""
    feed = FeedGenerator()
    feed.id(feed_url)
    feed.title(f"{page.title} status")
    feed.description(f"Incidents and maintenance of {page.title}")
    feed.link(href=page.url, rel="alternate")
    feed.link(href=feed_url, rel="self")
    feed.updated(content_updated_at(page) or EPOCH)
    feed.author({"name": page.title})
    events = sorted([*page.incidents, *page.maintenances],
                    key=lambda i: (i.updated_at, i.kind, i.id))
    for event in events:
        entry = feed.add_entry()
        entry.id(f"{page.url}/{event.kind}s/{event.id}")
        entry.title(f"[{event.status}] {event.title}")
        entry.link(href=shortlink(page, event))
        entry.updated(event.updated_at)
        entry.published(event.created_at or event.started_at)
        lines = [f"{u.created_at:%Y-%m-%d %H:%M} UTC {u.status}: {u.body}"
                 for u in sorted(event.updates, key=lambda u: u.created_at, reverse=True)]
        affected = ", ".join(f"{c} ({r})" for c, r, _ in event.components)
        text = "\n".join([f"Affected: {affected}", *lines])
        entry.content(text, type="text")
        entry.description(text)
    return feed


def atom_feed(page: StatusPage, feed_url: str) -> bytes:
    """An Atom feed of incidents and maintenance (also Statuspage's /history.atom; a
    region's page gives the region's feed). Its id is `feed_url`, each entry's id the URL
    of the incident's or maintenance's own page: the same entry has the same id in the
    whole page's feed and its regions' feeds, and it never changes."""
    return bytes(_feed(page, feed_url).atom_str(pretty=True))


def rss_feed(page: StatusPage, feed_url: str) -> bytes:
    """The same as RSS 2.0 (Statuspage's /history.rss)."""
    return bytes(_feed(page, feed_url).rss_str(pretty=True))
