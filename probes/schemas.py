"""The probes API's request and response models (core.schemas): they check what agents and
admins send and write the OpenAPI document. Domain rules that need the catalogue (a known
region, a step's assertions) stay in probes.specs and probes.checks."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import AwareDatetime, Field

from core.schemas import QueryModel, RequestModel, ResponseModel

MAX_BATCH = 5_000
Name = Annotated[str, Field(min_length=1, max_length=120)]
AgentName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,119}$")]
LocationName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
Numbers = dict[str, float]


class HeartbeatIn(RequestModel):
    """An agent says it is alive, or with `stopping` that it stops on purpose."""

    problem_code: ClassVar[str] = "invalid_heartbeat"

    name: AgentName
    location: LocationName
    version: Annotated[str, Field(pattern=r"^([A-Za-z0-9][A-Za-z0-9.+_-]{0,39})?$")] = ""
    stopping: bool = False


class CheckIn(RequestModel):
    """One probe run from one location, as the runner and the agent's spool write it."""

    id: Annotated[str, Field(pattern=r"^[0-9a-fA-F-]{1,64}$")]
    probe: Name
    component: Name
    region: Name
    location: Annotated[str, Field(min_length=1, max_length=64)]
    intended_at: AwareDatetime
    started_at: AwareDatetime
    ok: bool
    latency_ms: Annotated[float, Field(ge=0)]
    interval_s: Annotated[int, Field(ge=1, le=86400)] = 30
    degraded: bool = False
    status_code: Annotated[int, Field(ge=0, le=999)] | None = None
    error: str | None = None
    warning: str | None = None
    timings: Numbers = Field(default_factory=dict)
    figures: Numbers = Field(default_factory=dict)


class IngestIn(RequestModel):
    """A batch of checks, and the agent that sent it (which counts as its heartbeat)."""

    problem_code: ClassVar[str] = "invalid_check"

    checks: Annotated[list[CheckIn], Field(max_length=MAX_BATCH)]
    agent: HeartbeatIn | None = None

    @classmethod
    def where(cls, loc: tuple[int | str, ...], given: Any = None) -> str:
        """`check 3: 'ok'`: the batch position the agent's log can find."""
        if len(loc) >= 2 and loc[0] == "checks" and isinstance(loc[1], int):
            return f"check {loc[1]}: " + super().where(loc[2:])
        return super().where(loc)


class ProbeIn(RequestModel):
    """A probe definition (the shape of a config file's entry; its name is the path's).

    `steps` (http probes) are objects `{method, path, auth, body, form, capture, expect,
    assert, until, figure}` checked by the probe parser; `record` is a DNS record type (A,
    AAAA, CNAME, MX, NS or TXT, any case)."""

    problem_code: ClassVar[str] = "invalid_probe"
    messages: ClassVar[dict[str, str]] = {"kind": "must be http, tcp, tls, dns or icmp"}

    component: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,119}$")]
    region: Annotated[str, Field(min_length=1)]
    kind: Literal["http", "tcp", "tls", "dns", "icmp"] = "http"
    interval_s: Annotated[int, Field(ge=1, le=86400)] | None = None
    timeout_s: Annotated[float, Field(ge=0.1, le=120)] = 10
    degraded_ms: Annotated[float, Field(ge=1, le=120_000)] = 1000
    steps: list[dict[str, Any]] = Field(default_factory=list)
    base_url: str | None = None
    target: str | None = None
    tls_warn_days: Annotated[int, Field(ge=0, le=365)] = 14
    ca_file: str | None = None
    enabled: bool = True
    record: Annotated[str, Field(max_length=10)] = "A"
    answers: list[str] = Field(default_factory=list)
    resolver: str | None = None
    count: Annotated[int, Field(ge=1, le=20)] = 3
    assert_: list[str] = Field(default_factory=list, alias="assert")


class TlsQuery(QueryModel):
    all: bool = False


class HistoryQuery(QueryModel):
    component: str | None = None
    region: str | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 200


class ChecksQuery(QueryModel):
    component: Annotated[str, Field(min_length=1)]
    region: Annotated[str, Field(min_length=1)]


class MinutesQuery(QueryModel):
    component: Annotated[str, Field(min_length=1)]
    region: Annotated[str, Field(min_length=1)]
    since: AwareDatetime
    until: AwareDatetime


# --- answers ------------------------------------------------------------------------------

class RecheckAsked(ResponseModel):
    """A pair another location's failure asks the agent to re-check now (probes.relay)."""

    id: str
    component: str
    region: str
    location: str
    expires_at: AwareDatetime


class Ingested(ResponseModel):
    """How many checks came, how many were new; to an agent, the re-checks asked of it."""

    received: int
    stored: int
    duplicates: int
    rechecks: list[RecheckAsked] = Field(default_factory=list)


class HeartbeatAnswer(ResponseModel):
    """When the agent was heard, the heartbeat interval and the catalogue's version."""

    name: str
    seen_at: AwareDatetime
    interval_s: int
    catalogue_version: str


class AgentOut(ResponseModel):
    name: str
    location: str
    version: str
    address: str
    first_seen_at: AwareDatetime
    last_seen_at: AwareDatetime
    seconds_since_seen: float
    status: Literal["ok", "silent", "stopped"]
    silent_since: AwareDatetime | None


class Agents(ResponseModel):
    """Every agent that ever reported."""

    interval_s: int
    agents: list[AgentOut]


class CertificateOut(ResponseModel):
    probe: str
    component: str
    region: str
    target: str | None
    days_left: float
    not_after: AwareDatetime | None
    estimated_expiry: AwareDatetime
    last_checked_at: AwareDatetime
    location: str


class Certificates(ResponseModel):
    """TLS certificates, soonest expiry first."""

    warn_days: int
    certificates: list[CertificateOut]


class StepOut(ResponseModel):
    method: str
    path: str
    body: Any
    auth: str
    form: Any
    capture: dict[str, str]
    until: bool
    figure: str | None
    assert_: list[str] = Field(alias="assert")
    expect: dict[str, Any]


class ProbeOut(ResponseModel):
    """A probe in the shape a config file or a PUT writes it."""

    name: str
    component: str
    region: str
    kind: Literal["http", "tcp", "tls", "dns", "icmp"]
    interval_s: int
    timeout_s: float
    degraded_ms: float
    target: str | None
    base_url: str | None
    tls_warn_days: int
    ca_file: str | None
    enabled: bool
    source: str
    record: str | None
    answers: list[str]
    resolver: str | None
    count: int | None
    assert_: list[str] = Field(alias="assert")
    steps: list[StepOut]


class ProbeSaved(ProbeOut):
    """The probe as stored, and what will make its checks fail from here."""

    warnings: list[str]


class Probes(ResponseModel):
    """Every probe definition."""

    probes: list[ProbeOut]


class ProbeDeleted(ResponseModel):
    """The probe that was deleted."""

    deleted: str


class StateOut(ResponseModel):
    component: str
    region: str
    state: str
    since: AwareDatetime
    reason: str | None


class States(ResponseModel):
    """The live state of every probed component in every region."""

    states: list[StateOut]


class StateChangeOut(ResponseModel):
    component: str
    region: str
    from_: str | None = Field(alias="from")
    to: str
    at: AwareDatetime
    reason: str | None


class StateChanges(ResponseModel):
    """Changes of state, newest first."""

    changes: list[StateChangeOut]


class CheckOut(ResponseModel):
    id: str
    location: str
    started_at: AwareDatetime
    intended_at: AwareDatetime
    ok: bool
    latency_ms: float
    status_code: int | None
    error: str | None
    timings: dict[str, float] | None
    figures: dict[str, float] | None


class Checks(ResponseModel):
    """The most recent checks, newest first."""

    checks: list[CheckOut]


class VerdictCounts(ResponseModel):
    up: int
    down: int
    no_data: int


class Minutes(ResponseModel):
    """Minute verdicts counted between two times."""

    component: str
    region: str
    first_minute: int
    last_minute: int
    counts: VerdictCounts
    last_rolled_minute: int | None
