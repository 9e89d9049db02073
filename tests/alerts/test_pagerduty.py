"""PagerDuty events through the official client to a TLS stand-in of the Events API, driven
by a moved clock: failures, Retry-After, ordering per incident, an outage of minutes."""

from __future__ import annotations

import random
from datetime import timedelta
from email.utils import format_datetime

import pytest

from alerts.dispatch import Dispatcher
from alerts.senders.pagerduty import EventsApiPager
from core.config import Settings
from core.db import SessionFactory
from tests.alerts.builders import drain, enqueue_pages, row, rows
from tests.alerts.conftest import ROUTING_KEY
from tests.support.clock import ManualClock
from tests.support.pagerduty import EventsApiStandIn

TRIGGER = "pd:incident-1:trigger:1"


class NoJitter(random.Random):
    def random(self) -> float:
        return 0.0


def pager(settings: Settings, clock: ManualClock) -> Dispatcher:
    return Dispatcher({"pagerduty": EventsApiPager(settings, clock)}, rng=NoJitter())


def test_events_carry_the_contracts_fields(factory: SessionFactory, clock: ManualClock,
                                           events_api: EventsApiStandIn,
                                           pd_settings: Settings) -> None:
    enqueue_pages(factory, pd_settings, clock.now(), [7])
    dispatcher = pager(pd_settings, clock)
    assert drain(dispatcher, factory, clock) == 3
    trigger, acknowledge, resolve = events_api.events
    assert trigger["event_action"] == "trigger"
    assert trigger["dedup_key"] == "bellwether-incident-7"
    assert trigger["routing_key"] == ROUTING_KEY
    assert trigger["payload"]["summary"] == "orders down (incident 7)"
    assert (trigger["payload"]["severity"], trigger["payload"]["source"]) == \
        ("critical", "bellwether")
    assert trigger["payload"]["custom_details"]["regions"] == ["europe-west1.gcp"]
    assert trigger["links"] == [{"href": "https://status.example.test/incidents/7",
                                 "text": "incident 7"}]
    assert acknowledge == {"event_action": "acknowledge", "dedup_key": "bellwether-incident-7",
                           "routing_key": ROUTING_KEY}
    assert resolve == {"event_action": "resolve", "dedup_key": "bellwether-incident-7",
                       "routing_key": ROUTING_KEY}
    assert {r.status for r in rows(factory)} == {"delivered"}


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_server_error_then_success_delivers_the_event_once(
        status: int, factory: SessionFactory, clock: ManualClock,
        events_api: EventsApiStandIn, pd_settings: Settings) -> None:
    events_api.answer_next(status)
    enqueue_pages(factory, pd_settings, clock.now(), [1], actions=["trigger"])
    dispatcher = pager(pd_settings, clock)
    assert drain(dispatcher, factory, clock) == 1
    failed = row(factory, TRIGGER)
    assert len(events_api.requests) == 1  # the client's own retries (and sleeps) are off
    assert (failed.status, failed.attempts) == ("pending", 1)
    assert failed.next_attempt_at == clock.now() + timedelta(seconds=10)
    assert failed.last_error is not None
    assert failed.last_error.startswith(
        f"PagerDuty answered {status}")
    clock.advance(timedelta(seconds=10))
    assert drain(dispatcher, factory, clock) == 1
    clock.advance(timedelta(hours=1))
    assert drain(dispatcher, factory, clock) == 0
    assert events_api.accepted() == [("bellwether-incident-1", "trigger")]
    assert len(events_api.requests) == 2
    assert row(factory, TRIGGER).status == "delivered"


@pytest.mark.parametrize("retry_after", ["120", "http-date"])
def test_a_429_waits_for_its_retry_after(retry_after: str, factory: SessionFactory,
                                         clock: ManualClock, events_api: EventsApiStandIn,
                                         pd_settings: Settings) -> None:
    if retry_after == "http-date":
        retry_after = format_datetime(clock.now() + timedelta(seconds=120), usegmt=True)
    events_api.answer_next(429, retry_after=retry_after)
    enqueue_pages(factory, pd_settings, clock.now(), [1], actions=["trigger"])
    dispatcher = pager(pd_settings, clock)
    drain(dispatcher, factory, clock)
    assert len(events_api.requests) == 1  # not retried by the client (its default: forever)
    assert row(factory, TRIGGER).next_attempt_at == clock.now() + timedelta(seconds=120)
    clock.advance(timedelta(seconds=119))
    assert drain(dispatcher, factory, clock) == 0
    clock.advance(timedelta(seconds=1))
    assert drain(dispatcher, factory, clock) == 1
    assert events_api.accepted() == [("bellwether-incident-1", "trigger")]


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_a_refused_event_is_dead_at_once(status: int, factory: SessionFactory,
                                         clock: ManualClock, events_api: EventsApiStandIn,
                                         pd_settings: Settings) -> None:
    events_api.answer_next(status)
    enqueue_pages(factory, pd_settings, clock.now(), [1], actions=["trigger"])
    drain(pager(pd_settings, clock), factory, clock)
    dead = row(factory, TRIGGER)
    assert (dead.status, dead.attempts, len(events_api.requests)) == ("dead", 1, 1)
    assert dead.last_error is not None
    assert str(status) in dead.last_error


def test_an_incidents_events_arrive_in_order_even_when_the_trigger_first_failed(
        factory: SessionFactory, clock: ManualClock, events_api: EventsApiStandIn,
        pd_settings: Settings) -> None:
    events_api.answer_next(500, times=2)
    enqueue_pages(factory, pd_settings, clock.now(), [1, 2])
    dispatcher = pager(pd_settings, clock)
    for _ in range(10):
        drain(dispatcher, factory, clock)
        clock.advance(timedelta(seconds=10))
    accepted = events_api.accepted()
    assert len(accepted) == 6
    for incident in (1, 2):
        key = f"bellwether-incident-{incident}"
        assert [action for k, action in accepted if k == key] == \
            ["trigger", "acknowledge", "resolve"]
    sent = [(e["dedup_key"], e["event_action"]) for e in events_api.requests]
    assert sent.index(("bellwether-incident-1", "acknowledge")) > \
        max(i for i, e in enumerate(sent) if e == ("bellwether-incident-1", "trigger"))


def test_events_sent_while_pagerduty_is_down_arrive_afterwards_in_order_once(
        factory: SessionFactory, clock: ManualClock, events_api: EventsApiStandIn,
        pd_settings: Settings) -> None:
    start = clock.now()
    events_api.stop()
    enqueue_pages(factory, pd_settings, start, [1, 2])
    dispatcher = pager(pd_settings, clock)
    while clock.now() < start + timedelta(minutes=5):
        drain(dispatcher, factory, clock)
        clock.advance(timedelta(seconds=5))
    down = {r.key: (r.status, r.attempts) for r in rows(factory)}
    # Triggers tried at 0, 10, 30, 70 and 150 s (next at 310 s); the rest wait behind them.
    assert down[TRIGGER] == ("pending", 5)
    assert down["pd:incident-1:acknowledge"] == ("pending", 0)
    last_error = row(factory, TRIGGER).last_error
    assert last_error is not None
    assert last_error.startswith("PagerDuty unreachable: ConnectError")
    events_api.start()
    while clock.now() < start + timedelta(minutes=10):
        drain(dispatcher, factory, clock)
        clock.advance(timedelta(seconds=5))
    assert sorted(events_api.accepted()) == sorted(
        (f"bellwether-incident-{i}", action) for i in (1, 2)
        for action in ("trigger", "acknowledge", "resolve"))
    for incident in (1, 2):
        key = f"bellwether-incident-{incident}"
        assert [a for k, a in events_api.accepted() if k == key] == \
            ["trigger", "acknowledge", "resolve"]
    delivered = row(factory, TRIGGER)
    assert (delivered.attempts, delivered.delivered_at) == (6, start + timedelta(seconds=310))
