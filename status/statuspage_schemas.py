"""The Statuspage v2 documents Bellwether serves under /api/v2 (status.feeds writes them),
as response models for the OpenAPI document: field names, types and enums as Statuspage's
public API v2 has them, so the schemathesis run checks every document against them."""

from __future__ import annotations

from typing import Literal

from core.schemas import QueryModel, ResponseModel

ComponentStatus = Literal["operational", "degraded_performance", "partial_outage",
                          "major_outage", "under_maintenance"]
Indicator = Literal["none", "minor", "major", "critical", "maintenance"]
IncidentStatus = Literal["investigating", "identified", "monitoring", "resolved",
                         "postmortem", "scheduled", "in_progress", "verifying", "completed"]
#: Statuspage's timestamps: ISO 8601, UTC, milliseconds (`2026-12-03T10:15:02.123Z`).
Timestamp = str


class RegionQuery(QueryModel):
    region: str | None = None


class PageOut(ResponseModel):
    id: str
    name: str
    url: str
    time_zone: str
    updated_at: Timestamp | None


class StatusOut(ResponseModel):
    indicator: Indicator
    description: str


class ComponentOut(ResponseModel):
    """A component, or (`group: true`) a region's group holding its components' ids."""

    id: str
    name: str
    status: ComponentStatus
    created_at: Timestamp | None
    updated_at: Timestamp | None
    position: int
    description: str | None
    showcase: bool
    start_date: str | None
    group_id: str | None
    page_id: str
    group: bool
    only_show_if_degraded: bool
    components: list[str] | None = None


class AffectedComponentOut(ResponseModel):
    code: str
    name: str
    old_status: ComponentStatus
    new_status: ComponentStatus


class IncidentUpdateOut(ResponseModel):
    id: str
    status: IncidentStatus
    body: str
    incident_id: str
    created_at: Timestamp
    updated_at: Timestamp
    display_at: Timestamp
    affected_components: list[AffectedComponentOut] | None
    deliver_notifications: bool
    custom_tweet: str | None
    tweet_id: str | None


class IncidentOut(ResponseModel):
    """An incident, or a scheduled maintenance (which adds `scheduled_for/_until`)."""

    id: str
    name: str
    status: IncidentStatus
    created_at: Timestamp | None
    updated_at: Timestamp | None
    monitoring_at: Timestamp | None
    resolved_at: Timestamp | None
    impact: Indicator
    shortlink: str
    started_at: Timestamp | None
    page_id: str
    incident_updates: list[IncidentUpdateOut]
    components: list[ComponentOut]


class MaintenanceOut(IncidentOut):
    scheduled_for: Timestamp | None
    scheduled_until: Timestamp | None


class StatusDocument(ResponseModel):
    """The page's status indicator and its description."""

    page: PageOut
    status: StatusOut


class SummaryDocument(StatusDocument):
    """The status, every component, unresolved incidents, upcoming and active maintenance."""

    components: list[ComponentOut]
    incidents: list[IncidentOut]
    scheduled_maintenances: list[MaintenanceOut]


class ComponentsDocument(ResponseModel):
    """Every component: each region's group, then its members."""

    page: PageOut
    components: list[ComponentOut]


class IncidentsDocument(ResponseModel):
    """Incidents, newest first."""

    page: PageOut
    incidents: list[IncidentOut]


class MaintenancesDocument(ResponseModel):
    """Scheduled maintenances."""

    page: PageOut
    scheduled_maintenances: list[MaintenanceOut]


#: Every document by its path under /api/v2 (without `.json`), as status.feeds.DOCUMENTS.
DOCUMENTS: dict[str, type[ResponseModel]] = {
    "summary": SummaryDocument, "status": StatusDocument, "components": ComponentsDocument,
    "incidents": IncidentsDocument, "incidents/unresolved": IncidentsDocument,
    "scheduled-maintenances": MaintenancesDocument,
    "scheduled-maintenances/upcoming": MaintenancesDocument,
    "scheduled-maintenances/active": MaintenancesDocument,
}
