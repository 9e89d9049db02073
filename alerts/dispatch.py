"""The dispatcher: claim due outbox rows, record each attempt, send, record the outcome.

Several dispatchers (threads, processes, machines) may run at once: a row is taken by a
conditional claim, and a claim older than the lease is taken again (the worker died; its
send may or may not have happened, which is the contract's one allowed repeat). Rows with
the same `ordering_key` go out one at a time, in id order.

Pages first, in a lane of their own. Every row sits in a lane (`OutboxRow.priority`, set
by `alerts.outbox.enqueue` from the channel): 0 for PagerDuty events, 1 for subscriber
notices. A claim takes the lower lane first, but that alone would not do: a pass waits for
every row it holds, and a notices pass can hold eight webhooks that hang until their 10 s
timeout while ten thousand emails written before the trigger wait their turn. So a
dispatcher serves a range of lanes (`Lanes`), and the jobs (alerts.jobs) run two of them
side by side, each with its own pool: `alerts.pages` claims only the page lane, every
0.25 s, a few rows at a time; `alerts.dispatch` runs a page-lane pass and then a pass that
claims only the notice lanes (so one run by hand still delivers everything, pages first).
A page then waits at most for the next pages pass, never for a notice in hand nor for a
notices pass stuck on hanging receivers. Every pass takes rows by the same claim, so no
row is sent twice whichever pass (or worker) takes it. The "first in line" rule comes
before the lanes: a row waits behind an earlier undelivered row of its ordering key even
in another lane (pages and notices never share one).

The bookkeeping is done in groups, since it cost more than the sending: one statement
claims a group of rows and records their attempts, one query loads their subscribers, and
outcomes that finish while another group is being written are written together.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import threading
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Table,
    and_,
    bindparam,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from alerts.models import OutboxRow
from alerts.outbox import NOTICE_LANE, PAGE_LANE
from alerts.senders import Delivery, DeliveryError, KeepsConnections, Sender
from core.clock import Clock
from core.db import SessionFactory, session_scope
from status.subscriber_standing import note_failure, reset_failures, standings

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
#: Most rows one claim takes (the first claim of a pass; later ones top the pool up).
BATCH = 32
#: How long one pass keeps claiming while claims come back full: under the job's 1 s
#: interval, so a pass ends before the next one is due and shutdown never waits on a backlog.
PASS_TIME = timedelta(seconds=0.75)
#: The page lane's pool, claims and pass: pages are few, and a pass that ends quickly lets
#: the next one (every 0.25 s) take a page that arrived meanwhile.
PAGE_POOL_SIZE = 4
PAGE_BATCH = 8
PAGE_PASS_TIME = timedelta(seconds=0.2)


@dataclass(frozen=True, slots=True)
class Lanes:
    """The lanes a dispatcher claims from: `lowest` to `highest` inclusive (None: every lane
    above)."""

    lowest: int = PAGE_LANE
    highest: int | None = None

    def where(self) -> list[ColumnElement[bool]]:
        """The claim's condition on the lane."""
        if self.highest == self.lowest:
            return [OutboxRow.priority == self.lowest]
        conditions = [OutboxRow.priority >= self.lowest]
        if self.highest is not None:
            conditions.append(OutboxRow.priority <= self.highest)
        return conditions

    def order(self) -> list[InstrumentedAttribute[int]]:
        """The page lane ahead of the others, then id order. Lanes above the page lane are
        read in id order alone: PostgreSQL then walks the primary key and stops at the
        limit, where ordering by lane first would sort the whole backlog on every claim."""
        if self.lowest == PAGE_LANE and self.highest != PAGE_LANE:
            return [OutboxRow.priority, OutboxRow.id]
        return [OutboxRow.id]


EVERY_LANE = Lanes()
PAGES_ONLY = Lanes(PAGE_LANE, PAGE_LANE)
NOTICES_ONLY = Lanes(NOTICE_LANE)


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



def _due_ids(session: Session, now: datetime, limit: int, lease: timedelta,
             exclude: Collection[int] = (), lanes: Lanes = EVERY_LANE) -> list[int]:
    """Ids of rows that may be claimed: in `lanes`, due, unclaimed (or a stale claim), and
    first in line for their ordering key, leaving out `exclude` (the caller's own rows in
    flight); the lower lane first, then in id order. On PostgreSQL, rows another worker is
    claiming are skipped."""
    earlier = aliased(OutboxRow)
    # OFFSET 0 keeps PostgreSQL from turning this into an anti-join: planned from the
    # statistics of an outbox analyzed while nearly empty (its usual state), that join read
    # every undelivered row once per candidate, and a claim over a fresh fan-out of 11,000
    # rows took 86 s; as a subquery per candidate it reads the ordering index (83 ms).
    blocked = (select(earlier.id)
               .where(earlier.ordering_key == OutboxRow.ordering_key,
                      earlier.id < OutboxRow.id, earlier.status.in_(UNDELIVERED))
               .offset(0).exists())
    postgres = session.get_bind().dialect.name == "postgresql"
    due: ColumnElement[bool] = OutboxRow.next_attempt_at <= now
    if not postgres:
        # Most undelivered rows are due: saying so makes SQLite (no statistics) search the
        # lane index, not read every due row of a backlog to find the few pages.
        due = func.likely(due, type_=Boolean)
    query = (select(OutboxRow.id)
             .where(OutboxRow.status.in_(UNDELIVERED), due,
                    or_(OutboxRow.claimed_by.is_(None), OutboxRow.claimed_at < now - lease),
                    ~blocked, *lanes.where())
             .order_by(*lanes.order()).limit(limit))
    if exclude:
        query = query.where(OutboxRow.id.not_in(list(exclude)))
    if postgres:
        query = query.with_for_update(skip_locked=True, of=OutboxRow)
    return list(session.scalars(query))


def _take(session: Session, worker: str, now: datetime, limit: int, lease: timedelta,
          exclude: Collection[int], values: Mapping[str, Any],
          lanes: Lanes = EVERY_LANE) -> list[Delivery]:
    """Find due rows and take them with one UPDATE that repeats the "still free" condition,
    keeping only the rows it changed (another worker may have taken some in between)."""
    due = _due_ids(session, now, limit, lease, exclude, lanes)
    if not due:
        return []
    taken = set(session.scalars(
        update(OutboxRow)
        .where(OutboxRow.id.in_(due), OutboxRow.status.in_(UNDELIVERED),
               or_(OutboxRow.claimed_by.is_(None), OutboxRow.claimed_at < now - lease))
        .values(claimed_by=worker, claimed_at=now, **values)
        .returning(OutboxRow.id)
        .execution_options(synchronize_session=False)))
    if not taken:
        return []
    rows = session.execute(
        select(OutboxRow.id, OutboxRow.key, OutboxRow.channel, OutboxRow.recipient,
               OutboxRow.event_type, OutboxRow.payload, OutboxRow.attempts)
        .where(OutboxRow.id.in_(taken)).order_by(OutboxRow.priority, OutboxRow.id))
    return [Delivery(id=r.id, key=r.key, channel=r.channel, recipient=r.recipient,
                     event_type=r.event_type, payload=dict(r.payload), attempts=r.attempts)
            for r in rows]


def claim_batch(session: Session, worker: str, now: datetime, limit: int = BATCH,
                lease: timedelta = LEASE, lanes: Lanes = EVERY_LANE) -> list[Delivery]:
    """Claim up to `limit` due rows of `lanes` for `worker` (attempts not yet recorded); the
    caller commits."""
    return _take(session, worker, now, limit, lease, (), {}, lanes)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A row claimed with its attempt recorded, ready to send; `refusal` instead when its
    subscriber may no longer be sent to (then it is recorded as dead, never sent)."""

    delivery: Delivery
    refusal: DeliveryError | None
    claimed_at: float  # the dispatcher clock's monotonic time of the claim


def claim_attempts(session: Session, worker: str, now: datetime, limit: int,
                   lease: timedelta, exclude: Collection[int] = (),
                   lanes: Lanes = EVERY_LANE) -> list[Delivery]:
    """Claim up to `limit` due rows of `lanes` and record their attempts in the same
    statement (status "sending", attempts + 1): record before send. The caller commits, then
    sends at once."""
    return _take(session, worker, now, limit, lease, exclude,
                 {"status": "sending", "attempts": OutboxRow.attempts + 1}, lanes)


def with_subscribers(session: Session, deliveries: Sequence[Delivery],
                     ) -> list[tuple[Delivery, DeliveryError | None]]:
    """Each delivery with its subscriber's secret, or the reason it may no longer be sent
    (subscriber gone, disabled, unsubscribed); one query for the whole group."""
    found = standings(session, {d.subscriber_id for d in deliveries
                                if d.subscriber_id is not None})
    prepared: list[tuple[Delivery, DeliveryError | None]] = []
    for delivery in deliveries:
        if delivery.subscriber_id is None:
            prepared.append((delivery, None))
            continue
        subscriber = found.get(delivery.subscriber_id)
        if subscriber is None:
            prepared.append((delivery, DeliveryError("subscriber no longer exists",
                                                     permanent=True)))
        elif subscriber.disabled or subscriber.unsubscribed:
            state = "disabled" if subscriber.disabled else "unsubscribed"
            prepared.append((delivery, DeliveryError(f"not sent: subscriber {state}",
                                                     permanent=True)))
        else:
            prepared.append((replace(delivery, secret=subscriber.secret), None))
    return prepared


def _mine(delivery: Delivery, worker: str, *status: str) -> object:
    return and_(OutboxRow.id == delivery.id, OutboxRow.claimed_by == worker,
                OutboxRow.status.in_(status))


def start_attempt(session: Session, delivery: Delivery, worker: str, now: datetime) -> bool:
    """Record the attempt of a row claimed with `claim_batch`: status "sending", attempts + 1,
    the lease starts. False when the claim is no longer ours."""
    result = session.execute(
        update(OutboxRow).where(_mine(delivery, worker, *UNDELIVERED))  # type: ignore[arg-type]
        .values(status="sending", attempts=OutboxRow.attempts + 1, claimed_at=now)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]


def renew_claim(session: Session, delivery: Delivery, worker: str, now: datetime) -> bool:
    """Restart the lease of a row being attempted; False when the claim is no longer ours."""
    result = session.execute(
        update(OutboxRow).where(_mine(delivery, worker, "sending"))  # type: ignore[arg-type]
        .values(claimed_at=now).execution_options(synchronize_session=False))
    return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt ended: `error` None for delivered; `refused` when the sender was
    never called (the subscriber's tally is then left alone)."""

    delivery: Delivery
    error: DeliveryError | None
    at: datetime
    jitter: float = 0.0
    refused: bool = False

    @property
    def status(self) -> str:
        """"delivered", "pending" (to retry) or "dead"."""
        if self.error is None:
            return "delivered"
        if self.error.permanent or self.delivery.attempts >= MAX_ATTEMPTS:
            return "dead"
        return "pending"


_OUTBOX = cast(Table, OutboxRow.__table__)
_FINISH: dict[str, dict[str, Any]] = {
    "delivered": {"delivered_at": bindparam("b_at")},
    "dead": {"last_error": bindparam("b_error")},
    "pending": {"last_error": bindparam("b_error"), "next_attempt_at": bindparam("b_next")},
}


def record_outcomes(session: Session, outcomes: Sequence[Outcome], worker: str) -> None:
    """Store how attempts ended, one statement per kind of ending, and the subscribers'
    tallies; a row whose claim was lost in the meantime is left alone (and logged)."""
    for status, values in _FINISH.items():
        params = [{"b_id": o.delivery.id, "b_at": o.at,
                   "b_error": o.error.message[:500] if o.error else None,
                   "b_next": next_attempt_at(o.delivery.attempts, o.at, o.jitter,
                                             o.error.retry_after_s) if o.error else None}
                  for o in outcomes if o.status == status]
        if not params:
            continue
        result = session.execute(
            update(_OUTBOX).where(_OUTBOX.c.id == bindparam("b_id"),
                                  _OUTBOX.c.claimed_by == worker, _OUTBOX.c.status == "sending")
            .values(status=status, claimed_by=None, claimed_at=None, **values), params)
        stored = result.rowcount  # type: ignore[attr-defined]
        if stored != len(params) and session.get_bind().dialect.supports_sane_multi_rowcount:
            log.warning("%d outbox rows (%s): claim lost before the outcome was stored",
                        len(params) - stored, status)
    _tally_subscribers(session, outcomes)


def _tally_subscribers(session: Session, outcomes: Sequence[Outcome]) -> None:
    """Reset the tallies of subscribers just delivered to (only those not at zero), count
    the failures, in the order the attempts ended."""
    resets: set[int] = set()
    for outcome in outcomes:
        subscriber_id = outcome.delivery.subscriber_id
        if subscriber_id is None or outcome.refused:
            continue
        if outcome.error is None:
            resets.add(subscriber_id)
            continue
        if subscriber_id in resets:  # a success then a failure: the order matters
            reset_failures(session, resets)
            resets = set()
        note_subscriber(session, subscriber_id, outcome.error, outcome.at)
    reset_failures(session, resets)


def note_subscriber(session: Session, subscriber_id: int, error: DeliveryError | None,
                    now: datetime) -> None:
    """Count a subscriber's failures in a row (reset by a success); disable it after
    DISABLE_AFTER_FAILURES, or at once when the receiver says it is gone (410)."""
    if error is None:
        reset_failures(session, [subscriber_id])
    elif error.recipient_fault:
        note_failure(session, subscriber_id, error.message,
                     1 if error.recipient_gone else DISABLE_AFTER_FAILURES, now)


class OutcomeWriter:
    """Writes outcomes as attempts end, grouping those that end while a write is under way:
    the thread that finds the writer free writes everything waiting, so nothing waits for a
    timer and a delivered row stays unrecorded only for as long as one write takes."""

    def __init__(self, factory: SessionFactory, worker: str) -> None:
        self.factory = factory
        self.worker = worker
        self._waiting: list[Outcome] = []
        self._lock = threading.Lock()
        self._writing = threading.Lock()

    def add(self, outcome: Outcome) -> None:
        """Queue the outcome; write it (with others waiting) unless another thread is
        writing, which then writes it next."""
        with self._lock:
            self._waiting.append(outcome)
        while self._writing.acquire(blocking=False):
            try:
                with self._lock:
                    group, self._waiting = self._waiting, []
                if group:
                    with session_scope(self.factory) as session:
                        record_outcomes(session, group, self.worker)
            finally:
                self._writing.release()
            with self._lock:
                if not self._waiting:
                    return


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
    """Routes claimed rows of its `lanes` to the sender of their channel, a few at a time in
    a thread pool, so a slow receiver holds up only its own row."""

    def __init__(self, senders: Mapping[str, Sender], *, worker: str | None = None,
                 pool_size: int = POOL_SIZE, batch: int = BATCH, lease: timedelta = LEASE,
                 pass_time: timedelta = PASS_TIME, rng: random.Random | None = None,
                 lanes: Lanes = EVERY_LANE) -> None:
        self.senders = dict(senders)
        self.lanes = lanes
        self.worker = worker or worker_name()
        self.pool_size = pool_size
        self.batch = batch
        self.lease = lease
        self.pass_time = pass_time
        self.rng = rng or random.Random()

    def run_once(self, factory: SessionFactory, clock: Clock) -> int:
        """One pass; how many rows were attempted.

        1. Claim due rows, their attempts recorded, up to twice `pool_size` (at most
           `batch`), and hand them to the pool.
        2. While the last claim came back full and the pass has time left: whenever the
           pool has no more than `pool_size` rows in hand, claim again to fill it up. A
           claimed row so waits about one send before its own starts, well within its lease
           (renewed if it waited longer); rows in hand are never claimed again.
        3. Each outcome is recorded as its send returns (`OutcomeWriter`).
        4. Wait for the rows in hand, then close the senders' idle connections.
        """
        deadline = clock.monotonic() + self.pass_time.total_seconds()
        writer = OutcomeWriter(factory, self.worker)
        in_hand: dict[Future[None], int] = {}
        failures: list[BaseException] = []
        attempted, want, more = 0, min(self.batch, 2 * self.pool_size), True
        try:
            with ThreadPoolExecutor(self.pool_size, thread_name_prefix="outbox") as pool:
                while True:
                    if more and not failures and len(in_hand) <= self.pool_size and \
                            (not attempted or clock.monotonic() < deadline):
                        claimed = self._claim(factory, clock, want, set(in_hand.values()))
                        for item in claimed:
                            future = pool.submit(self._attempt, item, factory, clock, writer,
                                                 self.rng.random())
                            in_hand[future] = item.delivery.id
                        attempted += len(claimed)
                        more = len(claimed) == want
                    if not in_hand:
                        break
                    done, _ = wait(in_hand, return_when=FIRST_COMPLETED)
                    for future in done:
                        del in_hand[future]
                        if future.exception() is not None:
                            failures.append(future.exception())  # type: ignore[arg-type]
                    want = min(self.batch, 2 * self.pool_size - len(in_hand))
        finally:
            self._close_idle()
        if failures:
            raise failures[0]
        return attempted

    def _claim(self, factory: SessionFactory, clock: Clock, limit: int,
               in_hand: Collection[int]) -> list[Claimed]:
        with session_scope(factory) as session:
            deliveries = claim_attempts(session, self.worker, clock.now(), limit, self.lease,
                                        in_hand, self.lanes)
            prepared = with_subscribers(session, deliveries) if deliveries else []
        claimed_at = clock.monotonic()
        return [Claimed(delivery, refusal, claimed_at) for delivery, refusal in prepared]

    def _attempt(self, item: Claimed, factory: SessionFactory, clock: Clock,
                 writer: OutcomeWriter, jitter: float) -> None:
        """Send one claimed row (renewing its lease first if it waited long) and hand the
        outcome to the writer."""
        delivery = item.delivery
        if clock.monotonic() - item.claimed_at > self.lease.total_seconds() / 4:
            with session_scope(factory) as session:
                if not renew_claim(session, delivery, self.worker, clock.now()):
                    log.warning("outbox row %s: claim lost before sending", delivery.id)
                    return
        error = item.refusal or _send(self.senders.get(delivery.channel), delivery)
        writer.add(Outcome(delivery, error, clock.now(), jitter,
                           refused=item.refusal is not None))

    def _close_idle(self) -> None:
        for sender in {id(s): s for s in self.senders.values()}.values():
            if isinstance(sender, KeepsConnections):
                try:
                    sender.close_idle()
                except Exception:  # closing is a courtesy; never fail a pass over it
                    log.exception("closing idle connections of %s failed",
                                  type(sender).__name__)
