"""The dispatch job: one pass by hand, and a dispatcher process killed mid-run."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from alerts.dispatch import PASS_TIME
from alerts.jobs import JOBS, PAGE_SAFETY_S, dispatch_once, page_once
from alerts.senders.local import RecordingSender
from core.clock import SystemClock
from core.config import Settings
from core.db import SessionFactory
from core.scheduler import JobContext, find_job
from tests.alerts.builders import enqueue_pages, rows
from tests.support.clock import ManualClock
from tests.support.pagerduty import EventsApiStandIn
from tests.support.statements import statements
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
ACTIONS = ("trigger", "acknowledge", "resolve")


def test_the_job_table_runs_the_dispatcher_every_second() -> None:
    job = find_job(JOBS, "alerts.dispatch")
    assert (job.every, job.run) == (timedelta(seconds=1), dispatch_once)
    assert job.every > PASS_TIME  # a pass ends before the next run is due


def test_one_pass_delivers_a_backlog_beyond_one_claim(
        factory: SessionFactory, clock: ManualClock, pd_settings: Settings) -> None:
    enqueue_pages(factory, pd_settings, clock.now(), range(1, 51), actions=["trigger"])
    sender = RecordingSender()
    assert dispatch_once(JobContext(pd_settings, clock, factory,
                                    {"senders": {"pagerduty": sender}})) == 50
    assert len(sender.sent) == 50


def test_one_pass_sends_what_is_due_with_senders_built_from_the_settings(
        factory: SessionFactory, clock: ManualClock, events_api: EventsApiStandIn,
        pd_settings: Settings) -> None:
    enqueue_pages(factory, pd_settings, clock.now(), [1, 2])
    ctx = JobContext(pd_settings, clock, factory)
    assert dispatch_once(ctx) == 2  # both triggers; the rest wait for them
    assert dispatch_once(ctx) == 2
    assert sorted(events_api.accepted()[:2]) == [("bellwether-incident-1", "trigger"),
                                                 ("bellwether-incident-2", "trigger")]


def test_one_pass_uses_the_senders_it_is_given(factory: SessionFactory, clock: ManualClock,
                                               pd_settings: Settings) -> None:
    enqueue_pages(factory, pd_settings, clock.now(), [1], actions=["trigger"])
    sender = RecordingSender()
    assert dispatch_once(JobContext(pd_settings, clock, factory,
                                    {"senders": {"pagerduty": sender}})) == 1
    assert [d.key for d in sender.sent] == ["pd:incident-1:trigger:1"]


def test_an_idle_lane_is_not_polled_and_a_committed_page_is_looked_at_at_once(
        factory: SessionFactory, clock: ManualClock, pd_settings: Settings) -> None:
    """Counted statements: an idle pass once claimed (a write transaction) 4 times a
    second."""
    sender = RecordingSender()
    ctx = JobContext(pd_settings, clock, factory, {"senders": {"pagerduty": sender}})
    assert dispatch_once(ctx) == 0  # the first pass of each lane looks
    clock.advance(timedelta(seconds=0.25))
    with statements(factory.kw["bind"]) as seen:
        assert page_once(ctx) == 0
        assert dispatch_once(ctx) == 0
    assert seen == [], "nothing arrived: no query at all"
    enqueue_pages(factory, pd_settings, clock.now(), [7], actions=["trigger"])
    clock.advance(timedelta(seconds=0.25))
    assert page_once(ctx) == 1, "the commit fired the lane's signal"
    assert [d.key for d in sender.sent] == ["pd:incident-7:trigger:1"]
    page_once(ctx)  # after a pass that found work, the next one looks again
    clock.advance(timedelta(seconds=0.25))
    with statements(factory.kw["bind"]) as seen:
        page_once(ctx)
    assert seen == []
    clock.advance(timedelta(seconds=PAGE_SAFETY_S))
    with statements(factory.kw["bind"]) as seen:
        page_once(ctx)
    assert seen, "the safety net looks without a signal (another process, a retry due)"


@contextmanager
def dispatcher_process(database_url: str, settings: Settings, log: Path,
                       lease_s: float) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.dispatcher_process", database_url,
             settings.pagerduty_events_url, str(settings.pagerduty_ca_bundle), str(lease_s)],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)


def delivered(factory: SessionFactory) -> int:
    return sum(r.status == "delivered" for r in rows(factory))


@pytest.mark.e2e
def test_a_dispatcher_killed_between_deliveries_sends_nothing_twice_after_a_restart(
        fresh_engine: Engine, factory: SessionFactory, events_api: EventsApiStandIn,
        pd_settings: Settings, tmp_path: Path) -> None:
    """1. Four incidents, twelve events; the Events API accepts five, then holds every
    further request unanswered. 2. Once those five are recorded as delivered, SIGKILL.
    3. The held requests are hung up on (never accepted). 4. A new dispatcher retakes the
    rows the dead one held once their lease ran out, and sends the rest."""
    url = fresh_engine.url.render_as_string(hide_password=False)
    log = tmp_path / "dispatcher.log"
    enqueue_pages(factory, pd_settings, SystemClock().now(), [1, 2, 3, 4])
    events_api.hold_after(5)
    with dispatcher_process(url, pd_settings, log, lease_s=60) as first:
        wait_until(lambda: delivered(factory) == 5 and events_api.held >= 1, timeout=30,
                   message=f"five deliveries and a held one; log: {log.read_text()}")
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=30) == -signal.SIGKILL
    in_flight = {r.key for r in rows(factory) if r.status == "sending"}
    assert in_flight  # the kill left attempts recorded but unanswered
    events_api.release()
    with dispatcher_process(url, pd_settings, log, lease_s=1) as second:
        wait_until(lambda: delivered(factory) == 12, timeout=60,
                   message=f"every event delivered; log: {log.read_text()}")
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
    accepted = events_api.accepted()
    expected = [(f"bellwether-incident-{i}", a) for i in (1, 2, 3, 4) for a in ACTIONS]
    assert sorted(accepted) == sorted(expected)  # each exactly once
    for incident in (1, 2, 3, 4):
        key = f"bellwether-incident-{incident}"
        assert [a for k, a in accepted if k == key] == list(ACTIONS)
    assert len(events_api.requests) == 12 + events_api.held
