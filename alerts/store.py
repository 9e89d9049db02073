"""Questions other packages ask of the outbox, one function each (they never touch its
table themselves)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from alerts.models import OutboxRow
from alerts.outbox import PAGE_LANE

#: A row taken back before any attempt: it will never be sent.
WITHDRAWN = "withdrawn"


def withdraw_unsent(session: Session, key_prefix: str) -> int:
    """Take back rows whose key starts with `key_prefix` that no dispatcher has touched yet
    (pending, never attempted, unclaimed); how many. A row already claimed, sent or being
    sent stays: the caller must then assume the receiver got it.

    A reopened incident uses it for its pending resolve: PagerDuty never hears it, so the
    alert simply stays open and needs no new trigger.
    """
    pattern = key_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    result = session.execute(
        update(OutboxRow)
        .where(OutboxRow.key.like(pattern, escape="\\"), OutboxRow.status == "pending",
               OutboxRow.attempts == 0, OutboxRow.claimed_by.is_(None))
        .values(status=WITHDRAWN, last_error="withdrawn: the incident reopened")
        .execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


def enqueued(session: Session, keys: Iterable[str]) -> set[str]:
    """Which of these outbox keys were ever enqueued (whatever became of them since): the
    outbox records before it sends, so a key here means the event was, or will be, sent."""
    wanted = list(set(keys))
    if not wanted:
        return set()
    return set(session.scalars(select(OutboxRow.key).where(OutboxRow.key.in_(wanted))))


@dataclass(frozen=True, slots=True)
class OutboxCounts:
    """The outbox at a glance, for `/metrics`: rows waiting by (lane, status) for pending
    and sending, dead rows by channel, and PagerDuty's failed attempts so far."""

    waiting: dict[tuple[int, str], int]
    dead: dict[str, int]
    pagerduty_failed_attempts: int


#: The statuses of rows that may have been attempted (a withdrawn row never was).
ATTEMPTED = ("pending", "sending", "delivered", "dead")


def outbox_counts(session: Session) -> OutboxCounts:
    """Three aggregate queries. A failed attempt is one that neither delivered the row nor
    is still under way: every attempt is recorded (attempts + 1) when the row is claimed,
    so the failures are the attempts of PagerDuty's rows less one per row delivered or
    being sent. Rows are never deleted, so the number only grows."""
    waiting = session.execute(
        select(OutboxRow.priority, OutboxRow.status, func.count())
        .where(OutboxRow.status.in_(("pending", "sending")))
        .group_by(OutboxRow.priority, OutboxRow.status))
    dead = session.execute(
        select(OutboxRow.channel, func.count()).where(OutboxRow.status == "dead")
        .group_by(OutboxRow.channel))
    finished = case((OutboxRow.status.in_(("delivered", "sending")), 1), else_=0)
    attempts, not_failed = session.execute(
        select(func.coalesce(func.sum(OutboxRow.attempts), 0),
               func.coalesce(func.sum(finished), 0))
        # Every status an attempted row can have, and the page lane: both lead `ix_outbox_lane`
        # (status, priority, id), so only the page lane's rows are read, never the notices.
        .where(OutboxRow.status.in_(ATTEMPTED), OutboxRow.priority == PAGE_LANE,
               OutboxRow.channel == "pagerduty")).one()
    return OutboxCounts(waiting={(int(lane), status): int(n) for lane, status, n in waiting},
                        dead={channel: int(n) for channel, n in dead},
                        pagerduty_failed_attempts=int(attempts) - int(not_failed))
