"""Questions other packages ask of the outbox, one function each (they never touch its
table themselves)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from alerts.models import OutboxRow

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
