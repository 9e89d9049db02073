"""The alerts API's request and response models (core.schemas): the outbox, who can hear
of an outage, and PagerDuty's inbound webhooks."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import AwareDatetime, Field

from core.schemas import QueryModel, RequestModel, ResponseModel

OutboxStatus = Literal["pending", "sending", "delivered", "dead"]


class OutboxQuery(QueryModel):
    since: AwareDatetime | None = None
    status: OutboxStatus | None = None
    channel: str | None = None


class PagerDutyEventBody(RequestModel):
    id: Annotated[str, Field(min_length=1, max_length=100)]
    event_type: Annotated[str, Field(min_length=1)]
    occurred_at: str
    data: Any = None
    agent: Any = None


class PagerDutyEventIn(RequestModel):
    """What a PagerDuty V3 webhook body must hold (the rest is PagerDuty's to add)."""

    problem_code: ClassVar[str] = "malformed_event"

    event: PagerDutyEventBody


class OutboxRowOut(ResponseModel):
    id: int
    key: str
    channel: str
    event_type: str
    ordering_key: str | None
    status: OutboxStatus
    attempts: int
    created_at: AwareDatetime
    delivered_at: AwareDatetime | None
    next_attempt_at: AwareDatetime
    last_error: str | None
    dedup_key: str | None = Field(None, description="PagerDuty rows only")
    routing: Literal["tier1", "tier2", "other"] | None = Field(
        None, description="PagerDuty rows only: which tier's routing key")


class OutboxRows(ResponseModel):
    """Recent outbox rows, newest first."""

    rows: list[OutboxRowOut]


class Configured(ResponseModel):
    configured: bool
    setting: str


class Paging(ResponseModel):
    """Who can hear of an outage: paging, email and subscribers, and the timing settings."""

    pagerduty: dict[str, Configured]
    email: Configured
    subscribers: dict[str, int]
    probe_interval_s: int
    confirmations: int
    notice_settle_s: float
    notice_interval_s: float
    incident_reopen_s: float


class PagerDutyReceipt(ResponseModel):
    """What came of the event."""

    event_id: str
    outcome: Literal["recorded", "watching", "ignored", "duplicate"]
    incident_id: int | None
    reason: str
