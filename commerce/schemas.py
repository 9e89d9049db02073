"""The commerce API's request and response models (core.schemas): the fault injector,
regions and projects. Rules that need the catalogue (a known region, zone or service, a
kind's required scope) stay in commerce.faults."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import AwareDatetime, Field

from commerce.faults import FaultKind
from core.schemas import QueryModel, RequestModel, ResponseModel

Scope = Annotated[str, Field(min_length=1)]
MAX_ID = 2**31 - 1  # what an integer column holds on every backend


class FaultIn(RequestModel):
    """A fault to inject: its kind and scope; `value` is the added ms of a latency fault or
    the fraction of an error_rate fault."""

    problem_code: ClassVar[str] = "invalid_fault"

    kind: FaultKind
    region: Scope | None = None
    zone: Scope | None = None
    service: Scope | None = None
    location: Scope | None = None
    value: float | None = None
    duration_s: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None


class ProjectIn(RequestModel):
    """A commerce project (a tenant): its region and key (lower-case letters, digits, '-')."""

    problem_code: ClassVar[str] = "invalid_input"
    messages: ClassVar[dict[str, str]] = {
        "key": "must be lower-case letters, digits and dashes (at most 64)"}

    region: Annotated[str, Field(min_length=1, max_length=100)]
    key: Annotated[str, Field(pattern=r"^[a-z0-9-]*[a-z0-9][a-z0-9-]*$", max_length=64)]
    name: str | None = None


class CredentialsQuery(QueryModel):
    region: str


class FaultOut(ResponseModel):
    """An injected fault."""

    id: int
    kind: FaultKind
    region: str | None
    zone: str | None
    service: str | None
    location: str | None
    value: float | None
    duration_s: int | None
    created_at: AwareDatetime
    expires_at: AwareDatetime | None


class Faults(ResponseModel):
    """The active faults."""

    faults: list[FaultOut]


class Cleared(ResponseModel):
    """The fault that was cleared."""

    cleared: list[int]


class ClearedCount(ResponseModel):
    """How many faults were cleared."""

    cleared_count: int


class ZoneOut(ResponseModel):
    name: str
    url: str | None
    healthy: bool | None


class ServiceOut(ResponseModel):
    name: str
    tier: int
    depends_on: list[str]


class RegionOut(ResponseModel):
    name: str
    router_url: str | None
    zones: list[ZoneOut]
    services: list[ServiceOut]


class Regions(ResponseModel):
    """Every region with the endpoints in use, and the web app's URL."""

    regions: list[RegionOut]
    web_url: str


class ProjectMade(ResponseModel):
    """The new project's client credentials (the secret is shown once)."""

    region: str
    key: str
    client_id: str
    client_secret: str


class ProbeCredentials(ResponseModel):
    """The probe project's client credentials in a region."""

    region: str
    project_key: str
    client_id: str
    client_secret: str
