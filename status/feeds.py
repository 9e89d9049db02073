"""Statuspage-compatible JSON (public API v2 field names and values) and Atom feeds, both
from one `StatusPage` value."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from feedgen.feed import FeedGenerator

from status.page import ComponentView, IncidentView, StatusPage

PAGE_ID = "bellwether"
#: Statuspage has no status for "we cannot see it": `no_data` (no fresh checks from a
#: quorum of locations) is shown as the mildest status that is not `operational`, with the
#: reason in the component's description (README, "Data delayed").
STATUSPAGE_STATUS = {"no_data": "degraded_performance"}
DELAYED_NOTE = ("data delayed: Bellwether has no fresh checks from a majority of its probe "
                "locations, so it cannot say whether this component works")


def statuspage_status(state: str) -> str:
    """The contract's component status for a live state (never `operational` for no_data)."""
    return STATUSPAGE_STATUS.get(state, state)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def page_json(page: StatusPage) -> dict[str, Any]:
    return {"id": PAGE_ID, "name": page.title, "url": page.url, "time_zone": "Etc/UTC",
            "updated_at": _time(page.generated_at)}


def component_id(component: str, region: str) -> str:
    return f"{component}.{region}"


def component_json(view: ComponentView, position: int) -> dict[str, Any]:
    description = f"{view.component} in {view.region}, tier {view.tier}"
    if view.state == "no_data":
        description += f"; {DELAYED_NOTE}"
    return {"id": component_id(view.component, view.region), "name": view.name,
            "status": statuspage_status(view.state), "created_at": _time(view.since),
            "updated_at": _time(view.since), "position": position,
            "description": description,
            "showcase": True, "start_date": None, "group_id": None, "page_id": PAGE_ID,
            "group": False, "only_show_if_degraded": False,
            "uptime_90d_pct": None if view.uptime_pct is None else float(
                Decimal(str(view.uptime_pct)).quantize(Decimal("0.0001"), ROUND_HALF_EVEN))}


def _affected(incident: IncidentView) -> list[dict[str, Any]]:
    return [{"code": component_id(c, r), "name": f"{c} ({r})", "old_status": "operational",
             "new_status": statuspage_status(state)} for c, r, state in incident.components]


def _monitoring_since(incident: IncidentView) -> datetime | None:
    """When an incident in `monitoring` began watching its recovery (its latest such update)."""
    if incident.status != "monitoring":
        return None
    return max((u.created_at for u in incident.updates if u.status == "monitoring"),
               default=incident.updated_at)


def incident_json(incident: IncidentView) -> dict[str, Any]:
    """An incident, or a scheduled maintenance with its extra fields."""
    body: dict[str, Any] = {
        "id": str(incident.id), "name": incident.title, "status": incident.status,
        "created_at": _time(incident.started_at), "updated_at": _time(incident.updated_at),
        "monitoring_at": _time(_monitoring_since(incident)),
        "resolved_at": _time(incident.resolved_at),
        "impact": incident.impact, "shortlink": None, "started_at": _time(incident.started_at),
        "page_id": PAGE_ID,
        "incident_updates": [
            {"id": str(u.id), "status": u.status, "body": u.body, "incident_id": str(incident.id),
             "created_at": _time(u.created_at), "updated_at": _time(u.created_at),
             "display_at": _time(u.created_at), "affected_components": _affected(incident)}
            for u in sorted(incident.updates, key=lambda u: u.created_at, reverse=True)],
        "components": [{"id": component_id(c, r), "name": f"{c} ({r})",
                        "status": statuspage_status(state)}
                       for c, r, state in incident.components],
    }
    if incident.kind == "maintenance":
        body["scheduled_for"] = _time(incident.scheduled_for)
        body["scheduled_until"] = _time(incident.scheduled_until)
    return body


def status_json(page: StatusPage) -> dict[str, Any]:
    return {"page": page_json(page),
            "status": {"indicator": page.indicator, "description": page.description}}


def components_json(page: StatusPage) -> dict[str, Any]:
    return {"page": page_json(page),
            "components": [component_json(c, i + 1) for i, c in enumerate(page.components)]}


def incidents_json(page: StatusPage, unresolved_only: bool = False) -> dict[str, Any]:
    shown = page.active_incidents if unresolved_only else page.incidents
    return {"page": page_json(page), "incidents": [incident_json(i) for i in shown]}


def maintenances_json(page: StatusPage, upcoming_only: bool = False) -> dict[str, Any]:
    shown = [m for m in page.maintenances if not upcoming_only or m.is_open]
    return {"page": page_json(page), "scheduled_maintenances": [incident_json(m)
                                                                for m in shown]}


def summary_json(page: StatusPage) -> dict[str, Any]:
    return {**status_json(page),
            "components": components_json(page)["components"],
            "incidents": [incident_json(i) for i in page.active_incidents],
            "scheduled_maintenances": [incident_json(m) for m in page.maintenances
                                       if m.is_open]}


def atom_feed(page: StatusPage, feed_url: str) -> bytes:
    """An Atom feed of incidents and maintenance, newest update first (feedgen escapes)."""
    feed = FeedGenerator()
    feed.id(feed_url)
    feed.title(f"{page.title} status")
    feed.link(href=page.url, rel="alternate")
    feed.link(href=feed_url, rel="self")
    feed.updated(page.generated_at)
    feed.author({"name": page.title})
    events = sorted([*page.incidents, *page.maintenances], key=lambda i: i.updated_at)
    for event in events:
        entry = feed.add_entry()
        entry.id(f"{page.url}/{event.kind}s/{event.id}")
        entry.title(f"[{event.status}] {event.title}")
        entry.link(href=f"{page.url}/incidents/{event.id}" if event.kind == "incident"
                   else page.url)
        entry.updated(event.updated_at)
        entry.published(event.started_at)
        lines = [f"{u.created_at:%Y-%m-%d %H:%M} UTC {u.status}: {u.body}"
                 for u in sorted(event.updates, key=lambda u: u.created_at, reverse=True)]
        affected = ", ".join(f"{c} ({r})" for c, r, _ in event.components)
        entry.content("\n".join([f"Affected: {affected}", *lines]), type="text")
    return bytes(feed.atom_str(pretty=True))
