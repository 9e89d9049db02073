"""A subscriber's standing for delivery: whether it may still be sent to, with which secret,
and its failures in a row. The status package owns `subscribers`; the dispatcher (alerts)
reads and updates a subscriber's standing only through these functions."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from status.models import Subscriber


@dataclass(frozen=True, slots=True)
class Standing:
    """What a delivery needs to know of its subscriber."""

    secret: str | None
    disabled: bool
    unsubscribed: bool


def standings(session: Session, subscriber_ids: Collection[int]) -> dict[int, Standing]:
    """The standing of each of these subscribers that still exists; one query."""
    if not subscriber_ids:
        return {}
    rows = session.execute(
        select(Subscriber.id, Subscriber.secret, Subscriber.disabled_at,
               Subscriber.unsubscribed_at).where(Subscriber.id.in_(list(subscriber_ids))))
    return {row.id: Standing(row.secret, row.disabled_at is not None,
                             row.unsubscribed_at is not None) for row in rows}


def reset_failures(session: Session, subscriber_ids: Collection[int]) -> None:
    """A delivery succeeded: these subscribers have no failures in a row any more."""
    if subscriber_ids:
        session.execute(update(Subscriber)
                        .where(Subscriber.id.in_(list(subscriber_ids)),
                               Subscriber.consecutive_failures > 0)
                        .values(consecutive_failures=0)
                        .execution_options(synchronize_session=False))


def note_failure(session: Session, subscriber_id: int, message: str, disable_after: int,
                 now: datetime) -> None:
    """A delivery failed by the receiver's fault: count it, keep the message, and disable
    the subscriber once `disable_after` failures came in a row (1: at once, as for a
    receiver that says it is gone)."""
    target = update(Subscriber).where(Subscriber.id == subscriber_id)
    session.execute(target.values(consecutive_failures=Subscriber.consecutive_failures + 1,
                                  last_error=message[:500]))
    session.execute(target.where(Subscriber.disabled_at.is_(None),
                                 Subscriber.consecutive_failures >= disable_after)
                    .values(disabled_at=now))


def live_counts(session: Session) -> dict[str, int]:
    """How many confirmed, active subscribers there are of each kind."""
    rows = session.execute(
        select(Subscriber.kind, func.count()).where(
            Subscriber.confirmed_at.is_not(None), Subscriber.unsubscribed_at.is_(None),
            Subscriber.disabled_at.is_(None)).group_by(Subscriber.kind))
    return {str(kind): int(count) for kind, count in rows}


def failing(session: Session) -> list[Subscriber]:
    """Subscribers whose deliveries fail or who were disabled for it, disabled first."""
    return list(session.scalars(
        select(Subscriber).where(or_(Subscriber.consecutive_failures > 0,
                                     Subscriber.disabled_at.is_not(None)))
        .order_by(Subscriber.disabled_at.is_(None), Subscriber.id)))
