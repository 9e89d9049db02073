"""The dispatcher: backoff values, claims (ordering, lease, races) and outcomes, with a
recording sender in front of a real database (SQLite or PostgreSQL)."""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest

from alerts import dispatch
from alerts.dispatch import Dispatcher, claim_batch, next_attempt_at, start_attempt
from alerts.outbox import Notice
from alerts.senders import Delivery, DeliveryError, build_senders
from alerts.senders.local import RecordingSender
from core.config import Settings
from core.db import SessionFactory, session_scope
from tests.alerts.builders import (
    add_subscriber,
    drain,
    enqueue_notices,
    enqueue_pages,
    row,
    rows,
    statuses,
    subscriber,
)
from tests.alerts.conftest import ROUTING_KEY
from tests.support.clock import ManualClock

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
PAGING = replace(Settings(), pagerduty_routing_key_tier1=ROUTING_KEY)


class NoJitter(random.Random):
    def random(self) -> float:
        return 0.0


def recording(sender: RecordingSender, worker: str = "w1") -> Dispatcher:
    return Dispatcher({"pagerduty": sender, "email": sender, "webhook": sender}, worker=worker,
                      rng=NoJitter())


def an_email(key: str, subscriber_id: int | None = None) -> Notice:
    payload: dict[str, object] = {"subject": "s", "text": "t"}
    if subscriber_id is not None:
        payload["subscriber_id"] = subscriber_id
    return Notice(key=key, channel="email", recipient="ann@example.test",
                  event_type="incident.update", payload=payload)


# -- backoff (pure) ------------------------------------------------------------------------

@pytest.mark.parametrize(("attempts", "seconds"), [
    (1, 10), (2, 20), (3, 40), (4, 80), (8, 1280), (9, 1800), (12, 1800), (1000, 1800)])
def test_the_backoff_doubles_from_ten_seconds_up_to_half_an_hour(attempts: int,
                                                                 seconds: int) -> None:
    assert next_attempt_at(attempts, NOW) == NOW + timedelta(seconds=seconds)


def test_jitter_takes_off_at_most_a_quarter() -> None:
    assert next_attempt_at(3, NOW, jitter=0.5) == NOW + timedelta(seconds=35)
    assert next_attempt_at(3, NOW, jitter=0.999) > NOW + timedelta(seconds=30)


@pytest.mark.parametrize(("attempts", "retry_after", "seconds"), [
    (1, 120.0, 120), (5, 30.0, 160), (1, 0.0, 10), (2, 86_400.0, 3600)])
def test_retry_after_is_honoured_up_to_an_hour(attempts: int, retry_after: float,
                                               seconds: int) -> None:
    assert next_attempt_at(attempts, NOW, retry_after_s=retry_after) == \
        NOW + timedelta(seconds=seconds)


# -- claims --------------------------------------------------------------------------------

def claim(factory: SessionFactory, worker: str, now: datetime, limit: int = 32) -> list[str]:
    with session_scope(factory) as session:
        return [d.key for d in claim_batch(session, worker, now, limit)]


def test_a_claimed_row_is_not_claimed_again(factory: SessionFactory) -> None:
    enqueue_pages(factory, PAGING, NOW, [1, 2], actions=["trigger"])
    assert claim(factory, "w1", NOW) == ["pd:incident-1:trigger:1", "pd:incident-2:trigger:1"]
    assert claim(factory, "w2", NOW) == []


def test_a_row_waits_while_an_earlier_row_of_its_incident_is_undelivered(
        factory: SessionFactory) -> None:
    enqueue_pages(factory, PAGING, NOW, [1, 2])
    assert claim(factory, "w1", NOW) == ["pd:incident-1:trigger:1", "pd:incident-2:trigger:1"]
    sender = RecordingSender()
    # Within w1's lease: its triggers are taken, and the later rows wait behind them.
    assert drain(recording(sender, "w2"), factory, ManualClock(NOW + timedelta(seconds=30))) == 0
    assert sender.attempts == []


def test_rows_of_one_incident_go_out_in_order_one_per_pass(factory: SessionFactory) -> None:
    enqueue_pages(factory, PAGING, NOW, [1, 2])
    sender = RecordingSender()
    dispatcher = recording(sender)
    clock = ManualClock(NOW)
    assert [dispatcher.run_once(factory, clock) for _ in range(4)] == [2, 2, 2, 0]
    keys = [d.key for d in sender.sent]
    for incident in (1, 2):
        mine = [k for k in keys if k.startswith(f"pd:incident-{incident}:")]
        assert mine == [f"pd:incident-{incident}:trigger:1",
                        f"pd:incident-{incident}:acknowledge",
                        f"pd:incident-{incident}:resolve"]


def test_a_dead_row_no_longer_holds_up_the_rest_of_its_incident(
        factory: SessionFactory) -> None:
    enqueue_pages(factory, PAGING, NOW, [1], actions=["trigger", "resolve"])
    sender = RecordingSender([DeliveryError("400 bad event", permanent=True)])
    drain(recording(sender), factory, ManualClock(NOW))
    assert statuses(factory) == {"pd:incident-1:trigger:1": "dead",
                                 "pd:incident-1:resolve": "delivered"}


def test_a_claim_older_than_the_lease_is_taken_again(factory: SessionFactory) -> None:
    enqueue_pages(factory, PAGING, NOW, [1], actions=["trigger"])
    assert claim(factory, "crashed-before-sending", NOW) == ["pd:incident-1:trigger:1"]
    assert claim(factory, "w2", NOW + timedelta(seconds=59)) == []
    later = NOW + timedelta(seconds=61)
    with session_scope(factory) as session:
        [delivery] = claim_batch(session, "w2", later, 10)
    with session_scope(factory) as session:
        assert start_attempt(session, delivery, "w2", later)  # w2 crashes while sending
    assert row(factory, delivery.key).status == "sending"
    assert claim(factory, "w3", later + timedelta(seconds=59)) == []
    assert claim(factory, "w3", later + timedelta(seconds=61)) == [delivery.key]


def test_it_handles_a_row_claimed_between_its_select_and_its_update(
        factory: SessionFactory) -> None:
    """The interleaving is forced: another worker claims the first row, then this worker's
    select is replayed as it was before that claim (healthchecks'
    test_it_handles_concurrent_delete). Doing it inside the select would deadlock the test:
    SQLite's BEGIN IMMEDIATE and PostgreSQL's row locks make the other worker wait for us."""
    enqueue_pages(factory, PAGING, NOW, [1, 2], actions=["trigger"])
    first, second = (r.id for r in rows(factory))
    assert claim(factory, "w-other", NOW, limit=1) == ["pd:incident-1:trigger:1"]
    with mock.patch.object(dispatch, "_due_ids", return_value=[first, second]):
        assert claim(factory, "w-me", NOW) == ["pd:incident-2:trigger:1"]
    assert [r.claimed_by for r in rows(factory)] == ["w-other", "w-me"]


def test_workers_claiming_at_the_same_time_never_share_a_row(factory: SessionFactory) -> None:
    enqueue_pages(factory, PAGING, NOW, range(1, 61), actions=["trigger"])
    start = threading.Barrier(4)
    claimed: dict[str, list[str]] = {}

    def work(worker: str) -> None:
        start.wait()
        mine: list[str] = []
        while batch := claim(factory, worker, NOW, limit=3):
            mine.extend(batch)
        claimed[worker] = mine

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    every = [key for keys in claimed.values() for key in keys]
    assert len(every) == len(set(every)) == 60


# -- outcomes ------------------------------------------------------------------------------

class CheckingSender(RecordingSender):
    """Looks at the row while it is being sent."""

    def __init__(self, factory: SessionFactory) -> None:
        super().__init__()
        self.factory = factory
        self.seen: list[tuple[str, int]] = []

    def send(self, delivery: Delivery) -> None:
        current = row(self.factory, delivery.key)
        self.seen.append((current.status, current.attempts))
        super().send(delivery)


def test_the_attempt_is_recorded_before_the_sender_is_called(factory: SessionFactory) -> None:
    enqueue_pages(factory, PAGING, NOW, [1], actions=["trigger"])
    sender = CheckingSender(factory)
    drain(recording(sender), factory, ManualClock(NOW))
    assert sender.seen == [("sending", 1)]
    delivered = row(factory, "pd:incident-1:trigger:1")
    assert (delivered.status, delivered.attempts, delivered.delivered_at,
            delivered.claimed_by) == ("delivered", 1, NOW, None)


def test_a_retryable_failure_is_tried_again_after_the_backoff(factory: SessionFactory) -> None:
    enqueue_pages(factory, PAGING, NOW, [1], actions=["trigger"])
    sender = RecordingSender([DeliveryError("503", permanent=False)] * 2)
    clock = ManualClock(NOW)
    dispatcher = recording(sender)
    assert drain(dispatcher, factory, clock) == 1
    failed = row(factory, "pd:incident-1:trigger:1")
    assert (failed.status, failed.attempts, failed.next_attempt_at, failed.last_error) == \
        ("pending", 1, NOW + timedelta(seconds=10), "503")
    clock.advance(timedelta(seconds=9))
    assert drain(dispatcher, factory, clock) == 0
    clock.advance(timedelta(seconds=1))
    assert drain(dispatcher, factory, clock) == 1
    assert row(factory, "pd:incident-1:trigger:1").next_attempt_at == \
        clock.now() + timedelta(seconds=20)
    clock.advance(timedelta(seconds=20))
    drain(dispatcher, factory, clock)
    assert [d.attempts for d in sender.attempts] == [1, 2, 3]
    assert row(factory, "pd:incident-1:trigger:1").status == "delivered"


def test_a_permanent_failure_is_dead_at_once(factory: SessionFactory) -> None:
    enqueue_pages(factory, PAGING, NOW, [1], actions=["trigger"])
    sender = RecordingSender([DeliveryError("PagerDuty answered 400", permanent=True)])
    drain(recording(sender), factory, ManualClock(NOW + timedelta(hours=5)))
    dead = row(factory, "pd:incident-1:trigger:1")
    assert (dead.status, dead.attempts, dead.last_error) == ("dead", 1, "PagerDuty answered 400")


def test_a_row_is_dead_after_twelve_failed_attempts(factory: SessionFactory) -> None:
    enqueue_pages(factory, PAGING, NOW, [1], actions=["trigger"])
    sender = RecordingSender([DeliveryError("503", permanent=False)] * 20)
    clock = ManualClock(NOW)
    dispatcher = recording(sender)
    for _ in range(20):
        drain(dispatcher, factory, clock)
        clock.advance(timedelta(minutes=30))
    dead = row(factory, "pd:incident-1:trigger:1")
    assert (dead.status, dead.attempts, len(sender.attempts)) == ("dead", 12, 12)


def test_a_sender_bug_is_recorded_and_retried(factory: SessionFactory,
                                              caplog: pytest.LogCaptureFixture) -> None:
    class Broken(RecordingSender):
        def send(self, delivery: Delivery) -> None:
            raise KeyError("summary")

    enqueue_pages(factory, PAGING, NOW, [1], actions=["trigger"])
    drain(recording(Broken()), factory, ManualClock(NOW))
    failed = row(factory, "pd:incident-1:trigger:1")
    assert (failed.status, failed.last_error) == ("pending", "unexpected KeyError: 'summary'")
    assert "failed unexpectedly" in caplog.text


def test_email_without_an_smtp_url_ends_dead_saying_so(factory: SessionFactory,
                                                       clock: ManualClock) -> None:
    ann = add_subscriber(factory, NOW, "email", "ann@example.test")
    enqueue_notices(factory, NOW, [an_email("email:1:ann", ann)])
    dispatcher = Dispatcher(build_senders(Settings(), clock), rng=NoJitter())
    drain(dispatcher, factory, ManualClock(NOW))
    dead = row(factory, "email:1:ann")
    assert (dead.status, dead.last_error) == ("dead", "email is off (BELLWETHER_SMTP_URL unset)")
    assert subscriber(factory, ann).consecutive_failures == 0  # our doing, not Ann's


def test_a_subscriber_is_disabled_after_twelve_failures_in_a_row_and_then_skipped(
        factory: SessionFactory) -> None:
    ann = add_subscriber(factory, NOW, "email", "ann@example.test")
    refused = DeliveryError("550 no such user", permanent=True, recipient_fault=True)
    sender = RecordingSender([refused] * 12)
    enqueue_notices(factory, NOW, [an_email(f"email:{i}:ann", ann) for i in range(11)])
    clock = ManualClock(NOW)
    drain(recording(sender), factory, clock)
    assert subscriber(factory, ann).disabled_at is None  # 11 in a row
    enqueue_notices(factory, NOW, [an_email("email:11:ann", ann)])
    drain(recording(sender), factory, clock)
    after = subscriber(factory, ann)
    assert (after.consecutive_failures, after.disabled_at, after.last_error) == \
        (12, NOW, "550 no such user")
    enqueue_notices(factory, NOW, [an_email("email:12:ann", ann)])
    drain(recording(sender), factory, clock)
    assert len(sender.attempts) == 12  # the last one was never handed to the sender
    assert row(factory, "email:12:ann").last_error == "not sent: subscriber disabled"
    assert set(statuses(factory).values()) == {"dead"}


def test_a_success_resets_the_subscribers_failure_count(factory: SessionFactory) -> None:
    ann = add_subscriber(factory, NOW, "email", "ann@example.test")
    failure = DeliveryError("webhook answered 500", permanent=False, recipient_fault=True)
    sender = RecordingSender([failure, failure])
    enqueue_notices(factory, NOW, [an_email("email:1:ann", ann)])
    clock = ManualClock(NOW)
    dispatcher = recording(sender)
    for _ in range(2):
        drain(dispatcher, factory, clock)
        clock.advance(timedelta(minutes=1))
    assert subscriber(factory, ann).consecutive_failures == 2
    drain(dispatcher, factory, clock)
    after = subscriber(factory, ann)
    assert (after.consecutive_failures, after.disabled_at) == (0, None)
    assert row(factory, "email:1:ann").status == "delivered"


def test_a_gone_receiver_disables_its_subscriber_at_once(factory: SessionFactory) -> None:
    ann = add_subscriber(factory, NOW, "webhook", "https://hooks.example.test/", "s3cret")
    gone = DeliveryError("webhook answered 410", permanent=True, recipient_gone=True)
    enqueue_notices(factory, NOW, [an_email("email:1:ann", ann)])
    drain(recording(RecordingSender([gone])), factory, ManualClock(NOW))
    assert subscriber(factory, ann).disabled_at == NOW


# -- passes --------------------------------------------------------------------------------

def independent_emails(factory: SessionFactory, count: int) -> None:
    """`count` notices with no ordering between them (one subscriber each)."""
    notices = [replace(an_email(f"email:{i}:p"), ordering_key=f"subscriber-{i}")
               for i in range(count)]
    enqueue_notices(factory, NOW, notices)


def test_a_pass_keeps_claiming_while_claims_come_back_full(factory: SessionFactory) -> None:
    independent_emails(factory, 40)
    sender = RecordingSender()
    dispatcher = Dispatcher({"email": sender}, pool_size=2, rng=NoJitter())
    assert dispatcher.run_once(factory, ManualClock(NOW)) == 40  # claims of at most 4
    assert sorted(d.key for d in sender.sent) == sorted(f"email:{i}:p" for i in range(40))
    assert set(statuses(factory).values()) == {"delivered"}


class Slow(RecordingSender):
    """Each send takes a second of the manual clock."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__()
        self.clock = clock

    def send(self, delivery: Delivery) -> None:
        self.clock.advance(timedelta(seconds=1))
        super().send(delivery)


def test_a_pass_stops_claiming_when_its_time_is_up(factory: SessionFactory) -> None:
    independent_emails(factory, 40)
    clock = ManualClock(NOW)
    dispatcher = Dispatcher({"email": Slow(clock)}, pool_size=2,
                            pass_time=timedelta(seconds=0.75), rng=NoJitter())
    assert dispatcher.run_once(factory, clock) == 4  # the first claim, then time is up
    assert sorted(statuses(factory).values()).count("pending") == 36


def test_rows_in_hand_are_never_claimed_again_even_after_their_lease(
        factory: SessionFactory) -> None:
    """Sends outlast the (tiny) lease while later rows wait in the pool: the pass neither
    takes its own rows again nor sends them twice."""
    independent_emails(factory, 12)
    clock = ManualClock(NOW)
    sender = Slow(clock)
    dispatcher = Dispatcher({"email": sender}, pool_size=1, lease=timedelta(seconds=0.5),
                            pass_time=timedelta(hours=1), rng=NoJitter())
    assert dispatcher.run_once(factory, clock) == 12
    assert sorted(d.key for d in sender.attempts) == sorted(f"email:{i}:p" for i in range(12))
    assert {(r.status, r.attempts) for r in rows(factory)} == {("delivered", 1)}


def test_outcomes_of_one_subscriber_are_counted_in_the_order_they_ended(
        factory: SessionFactory) -> None:
    ann = add_subscriber(factory, NOW, "email", "ann@example.test")
    refused = DeliveryError("550 no such user", permanent=True, recipient_fault=True)
    enqueue_notices(factory, NOW, [replace(an_email(f"email:{i}:ann", ann),
                                           ordering_key=f"n-{i}") for i in range(3)])
    # ok, refused, ok in one pass, written together: the last success resets the tally.
    sender = RecordingSender([None, refused, None])
    Dispatcher({"email": sender}, pool_size=1, rng=NoJitter()).run_once(factory,
                                                                        ManualClock(NOW))
    assert subscriber(factory, ann).consecutive_failures == 0
    assert sorted(statuses(factory).values()) == ["dead", "delivered", "delivered"]
