"""Writing to the outbox: record before send. The caller's transaction holds the change and
its notices together, and the unique key makes a repeated enqueue a no-op.

Every row goes in a lane (`OutboxRow.priority`) by its channel: PagerDuty events (triggers
and their acknowledge / resolve) and on-call's escalation channels in the page lane,
everything for subscribers in the notice lane. The dispatcher (alerts.dispatch) serves the
page lane first and on its own, so a page never waits behind a fan-out written before it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from alerts.models import OutboxRow
from core.signals import CommitSignal

#: `apprise` rows go to subscribers' channels, `apprise_page` rows to on-call's escalation
#: channels (alongside PagerDuty, in the page lane); one sender serves both.
CHANNELS = ("pagerduty", "email", "webhook", "apprise", "apprise_page")
PAGE_CHANNELS = ("pagerduty", "apprise_page")
#: The lanes, lower first: pages and their follow-ups, then subscriber notices.
PAGE_LANE = 0
NOTICE_LANE = 1
#: Fired when a transaction that enqueued rows of the lane commits: the lane's dispatcher
#: looks at once instead of polling (core.signals).
ENQUEUED = {PAGE_LANE: CommitSignal("outbox page lane"),
            NOTICE_LANE: CommitSignal("outbox notice lanes")}


def lane_of(channel: str) -> int:
    """The lane of a channel's rows: PagerDuty's and on-call's channels are the page lane,
    every other the notices'.

    >>> lane_of("pagerduty"), lane_of("apprise_page"), lane_of("email"), lane_of("apprise")
    (0, 0, 1, 1)
    """
    return PAGE_LANE if channel in PAGE_CHANNELS else NOTICE_LANE


@dataclass(frozen=True, slots=True)
class Notice:
    """One event for one recipient.

    `key` must be stable for "this event to this recipient" (e.g.
    `pd:incident-7:trigger:2` or `email:incident-7:update-12:subscriber-40`), so that
    enqueueing it again changes nothing. `ordering_key` (e.g. `incident-7`) keeps one
    incident's deliveries in order.
    """

    key: str
    channel: str
    recipient: str
    event_type: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    ordering_key: str | None = None


def enqueue(session: Session, notices: Sequence[Notice], now: datetime) -> int:
    """Add notices to the outbox in the caller's transaction, each in its channel's lane;
    how many were new."""
    if not notices:
        return 0
    for notice in notices:
        if notice.channel not in CHANNELS:
            raise ValueError(f"unknown channel {notice.channel!r}")
    keys = [n.key for n in notices]
    known = set(session.scalars(select(OutboxRow.key).where(OutboxRow.key.in_(keys))))
    rows = [{"key": n.key, "channel": n.channel, "recipient": n.recipient,
             "event_type": n.event_type, "ordering_key": n.ordering_key,
             "priority": lane_of(n.channel), "payload": dict(n.payload), "status": "pending",
             "attempts": 0, "next_attempt_at": now, "created_at": now}
            for n in notices if n.key not in known]
    if not rows:
        return 0
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(dialect.insert(OutboxRow).on_conflict_do_nothing(index_elements=["key"]),
                    rows)
    for lane in {lane_of(n.channel) for n in notices if n.key not in known}:
        ENQUEUED[lane].mark(session)
    return len(rows)
