"""The outbox: one row per event × recipient, written in the same transaction as the change
that caused it. Its unique key makes every notice exactly-once by constraint."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class OutboxRow(Base):
    """Something to deliver: a PagerDuty event, an email, a webhook call.

    `status` moves pending → sending → delivered, or back to pending with a later
    `next_attempt_at` after a retryable failure, or to dead after a permanent one (or too
    many attempts). Rows of one incident are delivered in `id` order (`ordering_key`).
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_ordering", "ordering_key", "id"),
        Index("ix_outbox_lane", "status", "priority", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(250), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(500))
    event_type: Mapped[str] = mapped_column(String(64))
    ordering_key: Mapped[str | None] = mapped_column(String(120), default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    #: The lane: 0 for pages and their follow-ups, 1 for subscriber notices; lower first.
    priority: Mapped[int] = mapped_column(SmallInteger, default=1, server_default="1")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)


class PagerDutyEvent(Base):
    """A PagerDuty V3 webhook event, kept by its id so a redelivery is recorded once.

    `outcome` says what came of it: `recorded` on the incident's timeline, `ignored` (with
    the reason in `note`), or `watching`: a resolve made in PagerDuty while Bellwether's
    incident is open, until an evaluation of the incident follows it up (then `followed`).
    """

    __tablename__ = "pagerduty_events"
    __table_args__ = (Index("ix_pagerduty_events_outcome", "outcome", "received_at"),)

    event_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(64))
    incident_id: Mapped[int | None] = mapped_column(default=None)
    pd_incident: Mapped[str | None] = mapped_column(String(64), default=None)
    #: Who did it in PagerDuty (the event's agent), for the follow-up note.
    agent: Mapped[str] = mapped_column(String(200), default="")
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(String(500), default="")
