"""The status API's request and response models (core.schemas): incidents and maintenance
windows under /api/v1, and subscribing. Rules that need the settings or the store (a known
region, a window's notice, downtime already booked) stay in status.declared and
status.maintenance."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from core.schemas import QueryModel, RequestModel, ResponseModel
from status.declared import MAX_COMPONENTS, MAX_TEXT, MAX_TITLE
from status.incidents import Impact, IncidentStatus, Origin
from status.maintenance import MAX_REASON

AffectedState = Literal["operational", "degraded_performance", "partial_outage",
                        "major_outage"]
OpenStatus = Literal["investigating", "identified", "monitoring"]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                         max_length=MAX_TITLE)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                        max_length=MAX_TEXT)]


class IncidentInput(RequestModel):
    """Incident bodies: a refused component is named by its place in the list."""

    problem_code: ClassVar[str] = "invalid_incident"

    @classmethod
    def where(cls, loc: tuple[int | str, ...], given: Any = None) -> str:
        """`components[0]: auth in <region>: 'state'`, as the web form's refusal says it."""
        if len(loc) >= 3 and loc[0] == "components" and isinstance(loc[1], int):
            item = given["components"][loc[1]] if isinstance(given, dict) else {}
            name = f"{item.get('component')} in {item.get('region')}: " if isinstance(
                item, dict) and item.get("component") and item.get("region") else ""
            return f"components[{loc[1]}]: {name}" + super().where(loc[2:])
        return super().where(loc)


class ComponentIn(RequestModel):
    """A (component, region) the incident affects, and its state (default major_outage)."""

    component: Annotated[str, Field(min_length=1, max_length=120)]
    region: str
    state: AffectedState = "major_outage"


class DeclarationIn(IncidentInput):
    """A new incident; on-call is paged."""

    title: Title
    impact: Impact
    message: Text
    status: OpenStatus = "investigating"
    components: Annotated[list[ComponentIn], Field(max_length=MAX_COMPONENTS)] = Field(
        default_factory=list)


class UpdateIn(IncidentInput):
    """A public update; status `resolved` resolves the incident, `components` (when given)
    replace the affected list."""

    status: IncidentStatus
    body: Text
    impact: Impact | None = None
    components: Annotated[list[ComponentIn], Field(max_length=MAX_COMPONENTS)] | None = None


class TakeOverIn(IncidentInput):
    """An automatic incident's new title and public text."""

    title: Title
    message: Text


class ResolveIn(IncidentInput):
    """An optional closing text."""

    problem_code: ClassVar[str] = "bad_request"

    body: Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_TEXT)] = ""


class WindowIn(RequestModel):
    """A maintenance window; empty `components` or `regions` mean all of them. A start less
    than 7 days ahead needs `short_notice_reason`."""

    problem_code: ClassVar[str] = "invalid_maintenance"

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                            max_length=200)]
    message: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000)] = ""
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    components: list[str] | None = None
    regions: list[str] | None = None
    short_notice_reason: Annotated[str, StringConstraints(
        strip_whitespace=True, max_length=MAX_REASON)] | None = None


class IncidentListQuery(QueryModel):
    state: Literal["open", "resolved", "all"] = "all"
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    offset: Annotated[int, Field(ge=0, le=10**9)] = 0


# --- answers ------------------------------------------------------------------------------

class IncidentComponentOut(ResponseModel):
    component: str
    region: str
    state: str
    first_affected_at: AwareDatetime
    recovered_at: AwareDatetime | None


class TimelineOut(ResponseModel):
    first_failure_at: AwareDatetime | None
    opened_at: AwareDatetime | None
    acknowledged_at: AwareDatetime | None
    resolved_at: AwareDatetime | None
    time_to_detect_s: float | None
    time_to_acknowledge_s: float | None
    time_to_resolve_s: float | None


class IncidentUpdateOut(ResponseModel):
    id: int
    status: IncidentStatus
    body: str
    automatic: bool
    created_at: AwareDatetime
    internal: bool | None = Field(None, description="shown to support engineers and admins")


class IncidentSummary(ResponseModel):
    """An incident: public fields, affected components, timeline figures."""

    id: int
    title: str
    impact: Impact
    status: IncidentStatus
    origin: Origin
    root_component: str | None
    taken_over: bool
    public_message: str
    updated_at: AwareDatetime
    components: list[IncidentComponentOut]
    timeline: TimelineOut


class IncidentOut(IncidentSummary):
    """An incident with its updates (internal notes only for support engineers and admins)."""

    updates: list[IncidentUpdateOut]


class Incidents(ResponseModel):
    """Incidents, newest first."""

    incidents: list[IncidentSummary]


class WindowOut(ResponseModel):
    """A maintenance window and where it stands."""

    id: int
    title: str
    message: str
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    cancelled_at: AwareDatetime | None
    status: Literal["scheduled", "in_progress", "completed", "cancelled"]
    components: list[str]
    regions: list[str]
    short_notice_reason: str | None
    excluded_from_sla: bool


class Windows(ResponseModel):
    """Maintenance windows that are not over yet, soonest first."""

    maintenance: list[WindowOut]


# --- subscribing --------------------------------------------------------------------------

class SubscribeIn(RequestModel):
    """Subscribe by email, Apprise channel URL or webhook to some regions (and components)."""

    problem_code: ClassVar[str] = "invalid_subscription"
    messages: ClassVar[dict[str, str]] = {
        "kind": "must be apprise (a channel URL), email or webhook"}

    kind: Literal["apprise", "email", "webhook"]
    address: str
    regions: list[str]
    components: list[str] = Field(default_factory=list)


class Subscribed(ResponseModel):
    """The subscription; a webhook's signing secret is shown here once."""

    id: int
    kind: Literal["apprise", "email", "webhook"]
    address: str
    status: Literal["active", "pending_confirmation"]
    secret: str | None
    regions: list[str]
    components: list[str]


class Unsubscribed(ResponseModel):
    """The address that was unsubscribed."""

    unsubscribed: str
