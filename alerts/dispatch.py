"""The dispatcher: claim due outbox rows, record each attempt, send, record the outcome.

Several dispatchers (threads, processes, machines) may run at once: a row is taken by a
conditional claim, and a claim older than the lease is taken again (the worker died; its
send may or may not have happened, which is the contract's one allowed repeat). Rows with
the same `ordering_key` go out one at a time, in id order.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from alerts.models import OutboxRow
from alerts.senders import Delivery, DeliveryError, Sender
from core.clock import Clock
from core.db import SessionFactory, session_scope
from status.models import Subscriber

log = logging.getLogger("bellwether.outbox")

UNDELIVERED = ("pending", "sending")
MAX_ATTEMPTS = 12
BASE_DELAY = timedelta(seconds=10)
MAX_DELAY = timedelta(minutes=30)
MAX_RETRY_AFTER = timedelta(hours=1)
JITTER = 0.25
#: Longer than any sender's timeout (10 s), so a live worker never loses its claim.
LEASE = timedelta(seconds=60)
#: Failed attempts in a row (one delivery's whole budget) before a subscriber is disabled.
DISABLE_AFTER_FAILURES = MAX_ATTEMPTS
POOL_SIZE = 8
BATCH = 32


def next_attempt_at(attempts: int, now: datetime, jitter: float = 0.0,
                    retry_after_s: float | None = None) -> datetime:
    """When to try again after `attempts` failed attempts: 10 s doubling to 30 min, minus up
    to a quarter (`jitter` in [0, 1)), and never before the receiver's Retry-After (≤ 1 h).
    After 1, 2, 3 failures: 10 s, 20 s, 40 s; from the 9th on, 30 min.
    """
    doublings = min(max(attempts - 1, 0), 20)  # 10 s × 2**20 is far past the cap already
    delay = min(BASE_DELAY * (1 << doublings), MAX_DELAY) * (1 - JITTER * jitter)
    if retry_after_s is not None:
        delay = max(delay, min(timedelta(seconds=retry_after_s), MAX_RETRY_AFTER))
    return now + delay


def _delivery(row: OutboxRow) -> Delivery:
    return Delivery(id=row.id, key=row.key, channel=row.channel, recipient=row.recipient,
                    event_type=row.event_type, payload=dict(row.payload), attempts=row.attempts)


def _due_ids(session: Session, now: datetime, limit: int, lease: timedelta) -> list[int]:
    """Ids of rows that may be claimed: due, unclaimed (or a stale claim), and first in line
    for their ordering key. On PostgreSQL, rows another worker is claiming are skipped."""
    earlier = aliased(OutboxRow)
    blocked = exists().where(earlier.ordering_key == OutboxRow.ordering_key,
                             earlier.id < OutboxRow.id, earlier.status.in_(UNDELIVERED))
    query = (select(OutboxRow.id)
             .where(OutboxRow.status.in_(UNDELIVERED), OutboxRow.next_attempt_at <= now,
                    or_(OutboxRow.claimed_by.is_(None), OutboxRow.claimed_at < now - lease),
                    ~blocked)
             .order_by(OutboxRow.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=OutboxRow)
    return list(session.scalars(query))


def claim_batch(session: Session, worker: str, now: datetime, limit: int = BATCH,
                lease: timedelta = LEASE) -> list[Delivery]:
    """Claim up to `limit` due rows for `worker`; the caller commits.

    1. Find due rows (`_due_ids`; FOR UPDATE SKIP LOCKED on PostgreSQL).
    2. Take each with an UPDATE that repeats the "still free" condition, and keep it only
       when that UPDATE changed a row: another worker may have taken it in between.
    """
    claimed = []
    for row_id in _due_ids(session, now, limit, lease):
        taken = session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == row_id, OutboxRow.status.in_(UNDELIVERED),
                   or_(OutboxRow.claimed_by.is_(None), OutboxRow.claimed_at < now - lease))
            .values(claimed_by=worker, claimed_at=now)
            .execution_options(synchronize_session=False))
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append(row_id)
    if not claimed:
        return []
    rows = session.scalars(select(OutboxRow).where(OutboxRow.id.in_(claimed))
                           .order_by(OutboxRow.id)
                           .execution_options(populate_existing=True))
    return [_delivery(row) for row in rows]


def _mine(delivery: Delivery, worker: str, *status: str) -> object:
    return and_(OutboxRow.id == delivery.id, OutboxRow.claimed_by == worker,
                OutboxRow.status.in_(status))


def start_attempt(session: Session, delivery: Delivery, worker: str, now: datetime) -> bool:
    """Record the attempt before sending: status "sending", attempts + 1, the lease starts.
    False when the claim is no longer ours."""
    result = session.execute(
        update(OutboxRow).where(_mine(delivery, worker, *UNDELIVERED))  # type: ignore[arg-type]
        .values(status="sending", attempts=OutboxRow.attempts + 1, claimed_at=now)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]


def record_outcome(session: Session, delivery: Delivery, worker: str, now: datetime,
                   error: DeliveryError | None, jitter: float = 0.0) -> str:
    """Store how the attempt ended: "delivered", "pending" (to retry) or "dead"."""
    values: dict[str, object]
    if error is None:
        status, values = "delivered", {"delivered_at": now}
    elif error.permanent or delivery.attempts >= MAX_ATTEMPTS:
        status, values = "dead", {"last_error": error.message[:500]}
    else:
        next_at = next_attempt_at(delivery.attempts, now, jitter, error.retry_after_s)
        status, values = "pending", {"last_error": error.message[:500],
                                     "next_attempt_at": next_at}
    result = session.execute(
        update(OutboxRow).where(_mine(delivery, worker, "sending"))  # type: ignore[arg-type]
        .values(status=status, claimed_by=None, claimed_at=None, **values)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        log.warning("outbox row %s: claim lost before its outcome (%s) was stored",
                    delivery.id, status)
    return status


def note_subscriber(session: Session, subscriber_id: int, error: DeliveryError | None,
                    now: datetime) -> None:
    """Count a subscriber's failures in a row (reset by a success); disable it after
    DISABLE_AFTER_FAILURES, or at once when the receiver says it is gone (410)."""
    target = update(Subscriber).where(Subscriber.id == subscriber_id)
    if error is None:
        session.execute(target.values(consecutive_failures=0))
        return
    if not error.recipient_fault:
        return
    session.execute(target.values(consecutive_failures=Subscriber.consecutive_failures + 1,
                                  last_error=error.message[:500]))
    limit = 1 if error.recipient_gone else DISABLE_AFTER_FAILURES
    session.execute(target.where(Subscriber.disabled_at.is_(None),
                                 Subscriber.consecutive_failures >= limit)
                    .values(disabled_at=now))


def _prepare(session: Session, delivery: Delivery) -> tuple[Delivery, DeliveryError | None]:
    """Add the subscriber's secret; an error instead when it may no longer be sent to."""
    if delivery.subscriber_id is None:
        return delivery, None
    subscriber = session.get(Subscriber, delivery.subscriber_id)
    if subscriber is None:
        return delivery, DeliveryError("subscriber no longer exists", permanent=True)
    if subscriber.disabled_at is not None or subscriber.unsubscribed_at is not None:
        state = "disabled" if subscriber.disabled_at is not None else "unsubscribed"
        return delivery, DeliveryError(f"not sent: subscriber {state}", permanent=True)
    return replace(delivery, secret=subscriber.secret), None


def deliver(factory: SessionFactory, sender: Sender | None, delivery: Delivery, worker: str,
            clock: Clock, jitter: float = 0.0) -> str:
    """Deliver one claimed row; its new status ("lost" if the claim expired first).

    1. Record the attempt and commit (a crash from here on leaves "sending", retaken after
       the lease).
    2. Call the sender, outside any transaction.
    3. Record the outcome and the subscriber's tally, and commit.
    """
    with session_scope(factory) as session:
        if not start_attempt(session, delivery, worker, clock.now()):
            return "lost"
        delivery, refusal = _prepare(session, replace(delivery, attempts=delivery.attempts + 1))
    error = refusal
    if error is None:
        error = _send(sender, delivery)
    with session_scope(factory) as session:
        status = record_outcome(session, delivery, worker, clock.now(), error, jitter)
        if delivery.subscriber_id is not None and refusal is None:
            note_subscriber(session, delivery.subscriber_id, error, clock.now())
    return status


def _send(sender: Sender | None, delivery: Delivery) -> DeliveryError | None:
    if sender is None:
        return DeliveryError(f"no sender for channel {delivery.channel!r}", permanent=True)
    try:
        sender.send(delivery)
    except DeliveryError as exc:
        return exc
    except Exception as exc:  # a sender bug: recorded on the row and retried, never lost
        log.exception("sender for %s failed unexpectedly on row %s", delivery.channel,
                      delivery.id)
        return DeliveryError(f"unexpected {type(exc).__name__}: {exc}", permanent=False)
    return None


def worker_name() -> str:
    """Unique per dispatcher: host, process and a random suffix (a reused pid is not us)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


class Dispatcher:
    """Routes claimed rows to the sender of their channel, a few at a time in a thread pool,
    so a slow receiver holds up only its own row."""

    def __init__(self, senders: Mapping[str, Sender], *, worker: str | None = None,
                 pool_size: int = POOL_SIZE, batch: int = BATCH, lease: timedelta = LEASE,
                 rng: random.Random | None = None) -> None:
        self.senders = dict(senders)
        self.worker = worker or worker_name()
        self.pool_size = pool_size
        self.batch = batch
        self.lease = lease
        self.rng = rng or random.Random()

    def run_once(self, factory: SessionFactory, clock: Clock) -> int:
        """Claim one batch and deliver it; how many rows were attempted."""
        with session_scope(factory) as session:
            claimed = claim_batch(session, self.worker, clock.now(), self.batch, self.lease)
        if not claimed:
            return 0
        with ThreadPoolExecutor(min(self.pool_size, len(claimed)),
                                thread_name_prefix="outbox") as pool:
            futures = [pool.submit(deliver, factory, self.senders.get(d.channel), d,
                                   self.worker, clock, self.rng.random()) for d in claimed]
        for future in futures:
            future.result()
        return len(claimed)
