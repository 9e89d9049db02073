"""Pages first: the outbox's page lane is claimed ahead of subscriber notices and served by a
job of its own, so a page never waits behind a fan-out or a notices pass stuck on receivers
that hang (real loopback servers: the PagerDuty stand-in, an SMTP server, a hanging
webhook receiver)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, select

from alerts.dispatch import (
    NOTICES_ONLY,
    PAGE_PASS_TIME,
    PAGES_ONLY,
    Dispatcher,
    Lanes,
    claim_batch,
)
from alerts.jobs import JOBS, dispatch_once, page_once
from alerts.models import OutboxRow
from alerts.outbox import NOTICE_LANE, PAGE_LANE, Notice
from alerts.senders import Delivery
from alerts.senders.local import RecordingSender
from core.clock import SystemClock
from core.config import Settings
from core.db import SessionFactory, session_scope
from core.scheduler import JobContext, build_scheduler, find_job
from tests.alerts.builders import add_subscriber, enqueue_notices, enqueue_pages, webhook_notice
from tests.alerts.conftest import ROUTING_KEY
from tests.support.clock import ManualClock
from tests.support.pagerduty import EventsApiStandIn
from tests.support.smtp import running_smtp
from tests.support.waiting import wait_until
from tests.support.webhooks import HangingReceiver

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
PAGING = replace(Settings(), pagerduty_routing_key_tier1=ROUTING_KEY)
TRIGGER = "pd:incident-1:trigger:1"


def emails(count: int, start: int = 0) -> list[Notice]:
    """Notices for `count` subscribers, no ordering between them (one subscriber each)."""
    return [Notice(key=f"email:incident-1:subscriber-{i}", channel="email",
                   recipient=f"sub{i:05d}@example.test", event_type="incident.opened",
                   payload={"subject": "[investigating] orders down", "text": "Looking."},
                   ordering_key=f"subscriber-{i}")
            for i in range(start, start + count)]


def lanes_by_key(factory: SessionFactory) -> dict[str, int]:
    with session_scope(factory) as session:
        return {key: lane for key, lane in session.execute(select(OutboxRow.key,
                                                                  OutboxRow.priority))}


def claim(factory: SessionFactory, worker: str, limit: int, lanes: Lanes) -> list[str]:
    with session_scope(factory) as session:
        return [d.key for d in claim_batch(session, worker, NOW, limit, lanes=lanes)]


# -- lanes and claims ----------------------------------------------------------------------

def test_pages_go_in_the_page_lane_and_everything_else_in_the_notice_lane(
        factory: SessionFactory) -> None:
    ann = add_subscriber(factory, NOW, "webhook", "http://127.0.0.1:9/hook", "s3cret")
    enqueue_notices(factory, NOW, [*emails(1), webhook_notice("hook:1:ann", "http://x/", ann,
                                                              {"a": 1})])
    enqueue_pages(factory, PAGING, NOW, [1])
    assert lanes_by_key(factory) == {
        "email:incident-1:subscriber-0": NOTICE_LANE, "hook:1:ann": NOTICE_LANE,
        TRIGGER: PAGE_LANE, "pd:incident-1:acknowledge": PAGE_LANE,
        "pd:incident-1:resolve": PAGE_LANE}


def test_a_page_written_after_a_fan_out_is_claimed_first(factory: SessionFactory) -> None:
    enqueue_notices(factory, NOW, emails(50))
    enqueue_pages(factory, PAGING, NOW, [1], actions=["trigger"])
    assert claim(factory, "w1", 3, Lanes()) == [TRIGGER, "email:incident-1:subscriber-0",
                                                "email:incident-1:subscriber-1"]


def test_each_lane_claims_only_its_own_rows_and_pages_stay_in_order(
        factory: SessionFactory) -> None:
    enqueue_notices(factory, NOW, emails(5))
    enqueue_pages(factory, PAGING, NOW, [1])
    assert claim(factory, "pages", 10, PAGES_ONLY) == [TRIGGER]  # its follow-ups wait for it
    assert claim(factory, "notices", 10, NOTICES_ONLY) == [
        f"email:incident-1:subscriber-{i}" for i in range(5)]
    assert claim(factory, "notices", 10, NOTICES_ONLY) == []


def test_dispatchers_of_both_lanes_in_several_workers_never_send_a_row_twice(
        factory: SessionFactory) -> None:
    """Two workers, each with a page-lane and a notice-lane dispatcher, run at once until
    the outbox is empty: every row is sent exactly once, and each incident's pages in
    order."""
    enqueue_notices(factory, NOW, emails(120))
    enqueue_pages(factory, PAGING, NOW, range(1, 21))
    sender = RecordingSender()
    clock = ManualClock(NOW)
    start = threading.Barrier(4)

    def work(dispatcher: Dispatcher) -> None:
        start.wait()
        while dispatcher.run_once(factory, clock):
            pass

    dispatchers = [Dispatcher({"pagerduty": sender, "email": sender}, worker=f"w{w}-{lane}",
                              lanes=lanes, pool_size=3, batch=4)
                   for w in (1, 2) for lane, lanes in (("p", PAGES_ONLY), ("n", NOTICES_ONLY))]
    threads = [threading.Thread(target=work, args=(d,)) for d in dispatchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # A page-lane pass may end before the follow-ups of a trigger became first in line.
    while dispatchers[0].run_once(factory, clock):
        pass
    sent = Counter(d.key for d in sender.sent)
    assert set(sent.values()) == {1}
    assert len(sent) == 120 + 60
    keys = [d.key for d in sender.sent]
    for incident in range(1, 21):
        mine = [k for k in keys if k.startswith(f"pd:incident-{incident}:")]
        assert mine == [f"pd:incident-{incident}:trigger:1",
                        f"pd:incident-{incident}:acknowledge", f"pd:incident-{incident}:resolve"]


# -- the jobs ------------------------------------------------------------------------------

def test_the_page_lane_has_a_job_of_its_own_several_times_a_second() -> None:
    job = find_job(JOBS, "alerts.pages")
    assert job.run == page_once
    assert job.every <= timedelta(seconds=0.5)
    assert job.every > PAGE_PASS_TIME  # a pass ends before the next one is due


def test_the_pages_job_sends_pages_only(factory: SessionFactory, pd_settings: Settings,
                                        clock: ManualClock) -> None:
    enqueue_notices(factory, clock.now(), emails(20))
    enqueue_pages(factory, pd_settings, clock.now(), [1, 2], actions=["trigger"])
    sender = RecordingSender()
    ctx = JobContext(pd_settings, clock, factory, {"senders": {"pagerduty": sender,
                                                               "email": sender}})
    assert page_once(ctx) == 2
    assert [d.channel for d in sender.sent] == ["pagerduty", "pagerduty"]
    assert dispatch_once(ctx) == 20  # the dispatch job sends the rest


# -- pages first against real receivers ------------------------------------------------------

@contextmanager
def scheduled(ctx: JobContext) -> Iterator[BackgroundScheduler]:
    """The alerts jobs as `bellwether worker` and `up` schedule them."""
    scheduler = build_scheduler(JOBS, ctx)
    scheduler.start()
    try:
        yield scheduler
    finally:
        scheduler.shutdown(wait=True)


def undelivered(factory: SessionFactory, channel: str) -> int:
    with session_scope(factory) as session:
        return int(session.scalar(select(func.count()).select_from(OutboxRow).where(
            OutboxRow.channel == channel, OutboxRow.status.in_(("pending", "sending")))) or 0)


def sending_to(factory: SessionFactory, url: str) -> int:
    with session_scope(factory) as session:
        return int(session.scalar(select(func.count()).select_from(OutboxRow).where(
            OutboxRow.recipient == url, OutboxRow.status == "sending")) or 0)


def test_a_page_written_after_thousands_of_notices_goes_while_the_notices_pass_hangs(
        factory: SessionFactory, events_api: EventsApiStandIn, pd_settings: Settings) -> None:
    """1. 24 webhooks to a receiver that never answers, then 2,000 emails to a real SMTP
    server, are in the outbox, and the scheduled jobs run. 2. Once the notices pass holds a
    pool full of hanging calls (it cannot end before their 10 s timeout), the trigger is
    written, after every notice. 3. It reaches the PagerDuty stand-in while those calls
    still hang and the emails still wait."""
    clock = SystemClock()
    hanging = HangingReceiver()
    try:
        with running_smtp() as smtp:
            settings = replace(pd_settings, smtp_url=smtp.url,
                               extra={**pd_settings.extra, "allow_private_webhooks": True})
            now = clock.now()
            hooks = []
            for i in range(24):
                who = add_subscriber(factory, now, "webhook", hanging.url, f"secret-{i}")
                hooks.append(webhook_notice(f"hook:incident-1:subscriber-{who}", hanging.url,
                                            who, {"incident": 1}, f"subscriber-{who}"))
            enqueue_notices(factory, now, hooks)
            enqueue_notices(factory, now, emails(2000, start=100))
            with scheduled(JobContext(settings, clock, factory)):
                wait_until(lambda: hanging.connections >= 8, timeout=30,
                           message="the notices pass holding eight hanging calls")
                enqueue_pages(factory, settings, clock.now(), [1], actions=["trigger"])
                wait_until(lambda: events_api.accepted(), timeout=30,
                           message="the trigger at the PagerDuty stand-in")
                still_hanging = sending_to(factory, hanging.url)
                emails_waiting = undelivered(factory, "email")
                received = len(smtp.mails)
                hanging.stop()  # the pass ends now instead of at the calls' timeout
            assert events_api.accepted() == [("bellwether-incident-1", "trigger")]
            assert still_hanging >= 8
            assert emails_waiting > 0
            assert received < 2000
    finally:
        hanging.stop()


class Counting(RecordingSender):
    """Records what it sends, and what was still undelivered in the other lane then."""

    def __init__(self, factory: SessionFactory) -> None:
        super().__init__()
        self.factory = factory
        self.notices_left: list[int] = []

    def send(self, delivery: Delivery) -> None:
        if delivery.channel == "pagerduty":
            self.notices_left.append(undelivered(self.factory, "email"))
        super().send(delivery)


def test_a_pass_of_the_dispatch_job_sends_its_pages_before_any_notice(
        factory: SessionFactory, clock: ManualClock, pd_settings: Settings) -> None:
    enqueue_notices(factory, clock.now(), emails(40))
    enqueue_pages(factory, pd_settings, clock.now(), [1], actions=["trigger"])
    sender = Counting(factory)
    ctx = JobContext(pd_settings, clock, factory, {"senders": {"pagerduty": sender,
                                                               "email": sender}})
    assert dispatch_once(ctx) == 41
    assert sender.sent[0].key == TRIGGER
    assert sender.notices_left == [40]
