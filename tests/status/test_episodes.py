# ruff: noqa: F811  (the `ctx` fixture is imported from test_jobs and named in every test)
"""One root-cause episode, as on-call and subscribers live it: flaps reopen the incident,
unrelated failures stay apart, the cool-down shows `monitoring`, PagerDuty hears each key
once, and subscribers hear one story (first notice after the settle window, batched
updates, the resolution)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select, update

from alerts.models import OutboxRow
from core.db import session_scope
from core.scheduler import JobContext
from status.actions import post_update
from status.declared import UpdateInput
from status.incidents import IncidentStatus
from status.models import Subscriber, SubscriberScope
from tests.status.conftest import EU, START, TIER1_KEY, US
from tests.status.test_jobs import (  # noqa: F401
    COOLDOWN,
    ctx,
    incidents,
    region,
    rows,
    run_at,
    set_states,
)
from tests.support.clock import ManualClock

SETTLE = timedelta(seconds=30)


def deliver_everything(ctx: JobContext) -> None:
    """As if the dispatcher had sent every row: PagerDuty got them."""
    with session_scope(ctx.session_factory) as session:
        session.execute(update(OutboxRow).where(OutboxRow.status == "pending")
                        .values(status="delivered", delivered_at=START))


def subscribe(ctx: JobContext, address: str, region_name: str = EU) -> None:
    with session_scope(ctx.session_factory) as session:
        session.add(Subscriber(kind="email", address=address, created_at=START,
                               confirmed_at=START,
                               scopes=[SubscriberScope(region=region_name, component="")]))


def emails(ctx: JobContext) -> list[tuple[str, str]]:
    """(event type, subject) of every email in the outbox, in order."""
    with session_scope(ctx.session_factory) as session:
        return [(row.event_type, row.payload["subject"]) for row in session.scalars(
            select(OutboxRow).where(OutboxRow.channel == "email").order_by(OutboxRow.id))]


def test_a_flap_after_the_resolve_was_sent_reopens_and_re_triggers_the_same_alert(
        ctx: JobContext, clock: ManualClock) -> None:
    set_states(ctx, START, "major_outage", [("search", EU)])
    run_at(ctx, clock, START + timedelta(seconds=1))
    back = START + timedelta(minutes=2)
    set_states(ctx, back, "operational", [("search", EU)])
    run_at(ctx, clock, back + COOLDOWN)
    [incident] = incidents(ctx)
    assert incident.resolved_at is not None
    deliver_everything(ctx)
    set_states(ctx, back + COOLDOWN + timedelta(minutes=1), "major_outage", [("search", EU)])
    run_at(ctx, clock, back + COOLDOWN + timedelta(minutes=1, seconds=1))
    [again] = incidents(ctx)
    assert (again.id, again.resolved_at, again.reopened_at) == (
        incident.id, None, back + COOLDOWN + timedelta(minutes=1, seconds=1))
    assert "reopened" in again.updates[-1].body
    dedup = f"bellwether-incident-{incident.id}"
    assert [(e, r.recipient, p["dedup_key"]) for e, r, p in rows(ctx)] == [
        ("page.trigger", TIER1_KEY, dedup), ("page.resolve", TIER1_KEY, dedup),
        ("page.trigger", TIER1_KEY, dedup)]
    later = back + COOLDOWN + timedelta(minutes=3)
    set_states(ctx, later, "operational", [("search", EU)])
    run_at(ctx, clock, later + COOLDOWN)
    sent = rows(ctx)
    assert [e for e, _, _ in sent][-1] == "page.resolve"
    assert len({r.key for _, r, _ in sent}) == 4  # the second resolve has its own key


def test_the_same_root_failing_after_the_reopen_window_is_a_new_incident(
        ctx: JobContext, clock: ManualClock) -> None:
    set_states(ctx, START, "major_outage", [("search", EU)])
    run_at(ctx, clock, START + timedelta(seconds=1))
    set_states(ctx, START + timedelta(minutes=1), "operational", [("search", EU)])
    run_at(ctx, clock, START + timedelta(minutes=1) + COOLDOWN)
    late = START + timedelta(minutes=1) + COOLDOWN + timedelta(seconds=601)
    set_states(ctx, late, "major_outage", [("search", EU)])
    run_at(ctx, clock, late + timedelta(seconds=1))
    assert len(incidents(ctx)) == 2


def test_unrelated_failures_close_in_time_are_separate_incidents(
        ctx: JobContext, clock: ManualClock) -> None:
    set_states(ctx, START, "major_outage", [("search", EU)])
    run_at(ctx, clock, START + timedelta(seconds=1))
    set_states(ctx, START + timedelta(seconds=20), "major_outage", [("audit-log", EU)])
    run_at(ctx, clock, START + timedelta(seconds=21))
    assert sorted(i.root_component or "" for i in incidents(ctx)) == ["audit-log", "search"]


def test_the_cool_down_shows_monitoring_and_a_relapse_investigating(
        ctx: JobContext, clock: ManualClock) -> None:
    set_states(ctx, START, "major_outage", [("orders", EU)])
    run_at(ctx, clock, START + timedelta(seconds=1))
    set_states(ctx, START + timedelta(minutes=1), "operational", [("orders", EU)])
    run_at(ctx, clock, START + timedelta(minutes=1, seconds=1))
    assert incidents(ctx)[0].status == "monitoring"
    set_states(ctx, START + timedelta(minutes=2), "major_outage", [("orders", EU)])
    run_at(ctx, clock, START + timedelta(minutes=2, seconds=1))
    [incident] = incidents(ctx)
    assert (incident.status, incident.resolved_at) == ("investigating", None)
    assert [u.status for u in incident.updates] == ["investigating", "monitoring",
                                                    "investigating"]
    assert [e for e, _, _ in rows(ctx)] == ["page.trigger"]


def test_the_page_names_when_and_where_it_began(ctx: JobContext, clock: ManualClock) -> None:
    set_states(ctx, START, "major_outage", region(EU, "auth", "orders"))
    run_at(ctx, clock, START + timedelta(seconds=3))
    [(_, _, payload)] = rows(ctx)
    assert payload["timestamp"] == START.isoformat()  # the failure's start, not the send
    assert (payload["component"], payload["group"], payload["class"]) == ("auth", EU, "outage")
    assert payload["source"] == f"auth.{EU}"


def test_subscribers_hear_one_story_per_episode(ctx: JobContext, clock: ManualClock) -> None:
    subscribe(ctx, "ada@example.test")
    set_states(ctx, START, "major_outage", [("auth", EU)])
    run_at(ctx, clock, START + timedelta(seconds=1))
    assert emails(ctx) == []  # the page goes first; subscribers wait for the settle window
    set_states(ctx, START + timedelta(seconds=10), "major_outage",
               region(EU, "orders", "carts", "products", "search", "messages", "audit-log",
                      "import", "transaction"))
    run_at(ctx, clock, START + timedelta(seconds=11))
    run_at(ctx, clock, START + timedelta(seconds=1) + SETTLE)
    assert emails(ctx) == [("incident.opened", "[investigating] europe-west1.gcp unavailable")]
    set_states(ctx, START + timedelta(minutes=2), "operational",
               region(EU, "search", "audit-log"))
    run_at(ctx, clock, START + timedelta(minutes=2, seconds=1))
    set_states(ctx, START + timedelta(minutes=3), "operational", region(EU))
    run_at(ctx, clock, START + timedelta(minutes=3, seconds=1))
    assert len(emails(ctx)) == 1  # changes wait for notice_interval_s (5 min)
    run_at(ctx, clock, START + timedelta(minutes=3) + COOLDOWN)
    assert [e for e, _ in emails(ctx)] == ["incident.opened", "incident.resolved"]


def test_an_engineers_update_before_the_first_notice_is_the_opening_subscribers_get(
        ctx: JobContext, clock: ManualClock) -> None:
    subscribe(ctx, "ada@example.test")
    set_states(ctx, START, "major_outage", [("auth", EU)])
    run_at(ctx, clock, START + timedelta(seconds=1))
    [incident] = incidents(ctx)
    with session_scope(ctx.session_factory) as session:
        post_update(session, incident.id,
                    UpdateInput(IncidentStatus.IDENTIFIED, "A bad token signing key."),
                    None, START + timedelta(seconds=5), ctx.settings)
    run_at(ctx, clock, START + timedelta(seconds=1) + SETTLE)  # nothing newer to tell
    assert [e for e, _ in emails(ctx)] == ["incident.opened"]
    run_at(ctx, clock, START + timedelta(minutes=2))
    set_states(ctx, START + timedelta(minutes=3), "operational", [("auth", EU)])
    run_at(ctx, clock, START + timedelta(minutes=3) + COOLDOWN)
    assert [e for e, _ in emails(ctx)] == ["incident.opened", "incident.resolved"]


def test_an_episode_over_before_its_first_notice_tells_nobody(
        ctx: JobContext, clock: ManualClock) -> None:
    ctx.settings = replace(ctx.settings, extra={"incident_cooldown_s": 5,
                                                      "incident_group_wait_s": 0})
    subscribe(ctx, "ada@example.test")
    set_states(ctx, START, "major_outage", [("search", EU)])
    run_at(ctx, clock, START + timedelta(seconds=1))
    set_states(ctx, START + timedelta(seconds=5), "operational", [("search", EU)])
    run_at(ctx, clock, START + timedelta(seconds=11))
    run_at(ctx, clock, START + timedelta(minutes=2))
    assert incidents(ctx)[0].resolved_at is not None
    assert emails(ctx) == []
    assert [e for e, _, _ in rows(ctx) if e.startswith("page.")] == ["page.trigger",
                                                                      "page.resolve"]


def test_a_relapse_shorter_than_the_notice_interval_tells_subscribers_nothing_new(
        ctx: JobContext, clock: ManualClock) -> None:
    subscribe(ctx, "ada@example.test")
    set_states(ctx, START, "major_outage", [("search", EU)])
    run_at(ctx, clock, START + timedelta(seconds=1))
    run_at(ctx, clock, START + SETTLE + timedelta(seconds=1))
    back = START + timedelta(minutes=1)
    set_states(ctx, back, "operational", [("search", EU)])
    run_at(ctx, clock, back + COOLDOWN)
    assert [e for e, _ in emails(ctx)] == ["incident.opened", "incident.resolved"]
    relapse = back + COOLDOWN + timedelta(seconds=30)
    set_states(ctx, relapse, "major_outage", [("search", EU)])
    run_at(ctx, clock, relapse + timedelta(seconds=1))
    set_states(ctx, relapse + timedelta(seconds=40), "operational", [("search", EU)])
    run_at(ctx, clock, relapse + timedelta(seconds=41))
    run_at(ctx, clock, relapse + timedelta(seconds=40) + COOLDOWN)
    [incident] = incidents(ctx)
    assert incident.resolved_at is not None
    assert incident.reopened_at is not None
    assert [e for e, _ in emails(ctx)] == ["incident.opened", "incident.resolved"]


def test_the_same_service_failing_later_in_another_region_is_its_own_incident(
        ctx: JobContext, clock: ManualClock) -> None:
    set_states(ctx, START, "major_outage", [("messages", EU)])
    run_at(ctx, clock, START + timedelta(seconds=1))
    later = START + timedelta(minutes=10)
    set_states(ctx, later, "major_outage", [("messages", US)])
    run_at(ctx, clock, later + timedelta(seconds=1))
    assert [sorted({c.region for c in i.components}) for i in incidents(ctx)] == [[EU], [US]]


def test_a_dependent_confirming_before_its_root_waits_and_joins_the_root(
        ctx: JobContext, clock: ManualClock) -> None:
    ctx.settings = replace(ctx.settings, extra={"incident_group_wait_s": 3})
    set_states(ctx, START, "major_outage", [("transaction", EU), ("messages", EU)])
    run_at(ctx, clock, START + timedelta(seconds=1))
    assert incidents(ctx) == []  # they need auth, whose failure may not be confirmed yet
    set_states(ctx, START + timedelta(seconds=2), "major_outage", [("auth", EU)])
    set_states(ctx, START + timedelta(seconds=2), "major_outage", [("messages", US)])
    run_at(ctx, clock, START + timedelta(seconds=2, milliseconds=500))
    run_at(ctx, clock, START + timedelta(seconds=6))
    found = {i.root_component: {(c.component, c.region) for c in i.components}
             for i in incidents(ctx)}
    assert found == {"auth": {("auth", EU), ("transaction", EU), ("messages", EU)},
                     "messages": {("messages", US)}}
    assert len([e for e, _, _ in rows(ctx) if e == "page.trigger"]) == 2


def test_a_dependent_failing_alone_opens_its_incident_after_the_group_wait(
        ctx: JobContext, clock: ManualClock) -> None:
    ctx.settings = replace(ctx.settings, extra={"incident_group_wait_s": 3})
    set_states(ctx, START, "major_outage", [("search", EU)])
    run_at(ctx, clock, START + timedelta(seconds=1))
    assert incidents(ctx) == []
    run_at(ctx, clock, START + timedelta(seconds=3))
    [incident] = incidents(ctx)
    assert (incident.root_component, incident.first_failure_at is not None) == ("search", True)
