"""Two-way PagerDuty: signed V3 webhooks, built from PagerDuty's documented payloads, posted
over HTTP to a live app; what they write on the incident's timeline; and the follow-up of a
resolve made in PagerDuty while probes still see the outage."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from alerts.jobs import JOBS
from alerts.models import PagerDutyEvent
from alerts.pagerduty_inbound import (
    incident_id_of,
    parse_event,
    signed_by,
    too_old_or_new,
    webhook_secrets,
)
from app import create_app
from core.config import Settings
from core.db import make_session_factory, session_scope
from core.scheduler import JobContext, find_job
from core.servers import Listener
from probes import store as probes_store
from probes.evaluate import Evaluation, State
from status import store as status_store
from status.jobs import track_incidents
from tests.alerts.pagerduty_v3 import (
    DOCUMENTED,
    encoded,
    incident_event,
    service_event,
    signature_header,
)
from tests.support.clock import ManualClock
from tests.support.databases import migrated_engine

SECRET = "pd-subscription-secret-0123456789abcdef"
OLD_SECRET = "pd-subscription-secret-before-rotation"
PATH = "/api/v1/integrations/pagerduty"
START = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
EU = "europe-west1.gcp"


def pd_settings(data_dir: Path, url: str, **extra: Any) -> Settings:
    return replace(Settings(), data_dir=data_dir, database_url=url, http_port=0,
                   secret_key="test-secret", probe_interval_s=30,
                   pagerduty_routing_key_tier1="tier1-routing-key",
                   pagerduty_routing_key_tier2="tier2-routing-key",
                   extra={"incident_group_wait_s": 0, "pagerduty_webhook_secret": SECRET,
                          **extra})


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A database of its own: the incident job looks at every row."""
    with migrated_engine(tmp_path, "pdinbound") as made:
        yield made


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def settings(tmp_path: Path, engine: Engine) -> Settings:
    return pd_settings(tmp_path, engine.url.render_as_string(hide_password=False))


@pytest.fixture
def ctx(settings: Settings, clock: ManualClock, engine: Engine) -> JobContext:
    return JobContext(settings, clock, make_session_factory(engine))


def serve(settings: Settings, clock: ManualClock) -> Iterator[Listener]:
    app = create_app(settings, clock=clock)
    web = Listener("pd-inbound-test", app, threads=4)
    web.start()
    yield web
    web.stop()
    app.extensions["bellwether"].engine.dispose()


@pytest.fixture
def live(settings: Settings, clock: ManualClock) -> Iterator[Listener]:
    """The app on the production listener, on a loopback port, on the moved clock."""
    yield from serve(settings, clock)


def post(web: Listener, body: dict[str, Any], secrets: tuple[str, ...] = (SECRET,),
         raw: bytes | None = None) -> httpx.Response:
    """POST as PagerDuty does: the raw JSON body, signed with each secret."""
    data = encoded(body) if raw is None else raw
    headers = {"Content-Type": "application/json"}
    if secrets:
        headers["X-PagerDuty-Signature"] = signature_header(data, secrets)
    return httpx.post(web.url + PATH, content=data, headers=headers, timeout=10)


def set_state(ctx: JobContext, state: str, at: datetime) -> None:
    """What the probes' evaluation records for auth in Europe."""
    with session_scope(ctx.session_factory) as session:
        known = probes_store.states(session).get(("auth", EU))
        probes_store.record_state(session, "auth", EU, Evaluation(State(state), "test"), at,
                                  known)


def open_outage(ctx: JobContext, clock: ManualClock) -> int:
    """Auth fails in Europe; the incident job opens an automatic incident for it."""
    set_state(ctx, "operational", START - timedelta(hours=1))
    set_state(ctx, "major_outage", START)
    clock.advance(timedelta(seconds=1))
    track_incidents(ctx)
    with session_scope(ctx.session_factory) as session:
        [incident] = status_store.list_incidents(session, state="open")
        return incident.id


def timeline(ctx: JobContext, incident_id: int) -> list[tuple[bool, str]]:
    """The incident's updates as (internal, body)."""
    with session_scope(ctx.session_factory) as session:
        incident = status_store.get_incident(session, incident_id)
        return [(u.internal, u.body) for u in incident.updates]


def notes(ctx: JobContext, incident_id: int) -> list[str]:
    return [body for internal, body in timeline(ctx, incident_id)
            if internal and body.startswith("[PagerDuty]")]


def follow_up_pagerduty(ctx: JobContext) -> int:
    """One pass of the follow-up job, found by name as the scheduler runs it."""
    return find_job(JOBS, "alerts.pagerduty_followup").run(ctx)


def stored_events(ctx: JobContext) -> dict[str, str]:
    with session_scope(ctx.session_factory) as session:
        return {row.event_id: row.outcome for row in session.scalars(select(PagerDutyEvent))}


def key(incident_id: int, tier: int | None = None) -> str:
    return f"bellwether-incident-{incident_id}" + (f"-tier{tier}" if tier else "")


# --- values -----------------------------------------------------------------------------------

def test_a_signature_is_the_hex_hmac_sha256_of_the_raw_body_under_any_current_secret() -> None:
    raw = encoded(DOCUMENTED)
    assert signed_by(raw, signature_header(raw, [SECRET]), [SECRET])
    # During a rotation PagerDuty signs with each secret; either of ours may match.
    assert signed_by(raw, signature_header(raw, [OLD_SECRET, SECRET]), [SECRET])
    assert signed_by(raw, signature_header(raw, [OLD_SECRET]), [SECRET, OLD_SECRET])
    assert not signed_by(raw, signature_header(raw, ["another"]), [SECRET])
    assert not signed_by(raw + b" ", signature_header(raw, [SECRET]), [SECRET])
    assert not signed_by(raw, signature_header(raw, [SECRET]).replace("v1=", "v0="), [SECRET])
    assert not signed_by(raw, "v1=ünïcode", [SECRET])


def test_the_secret_comes_from_the_config_file_as_one_value_or_a_list() -> None:
    assert webhook_secrets(Settings()) == ()
    assert webhook_secrets(Settings(extra={"pagerduty_webhook_secret": "a"})) == ("a",)
    assert webhook_secrets(Settings(extra={"pagerduty_webhook_secret": ["a", "b"]})) == \
        ("a", "b")


def test_the_documented_payload_reads_as_an_event_of_a_pagerduty_incident() -> None:
    event = parse_event(DOCUMENTED)
    assert (event.id, event.event_type, event.agent, event.agent_type) == (
        "5ac64822-4adc-4fda-ade0-410becf0de4f", "incident.priority_updated", "Tenex Engineer",
        "user_reference")
    assert event.occurred_at == datetime(2020, 10, 2, 18, 45, 22, 169000, tzinfo=UTC)
    assert (event.pd_incident, event.number, event.assignees, event.escalation_policy) == (
        "PGR0VU2", 2, ("User 123",), "Default")
    assert event.incident_key == "d3640fbd41094207a1c11e58e46b1662"


@pytest.mark.parametrize(("incident_key", "incident_id"), [
    ("bellwether-incident-7", 7), ("bellwether-incident-7-tier1", 7),
    ("bellwether-incident-12-tier2", 12), ("bellwether-incident-", None),
    ("bellwether-incident-7-tier", None), ("xbellwether-incident-7", None),
    ("d3640fbd41094207a1c11e58e46b1662", None), (None, None)])
def test_our_alerts_are_known_by_their_dedup_key(incident_key: str | None,
                                                 incident_id: int | None) -> None:
    assert incident_id_of(incident_key) == incident_id


def test_the_replay_window_refuses_old_events_and_ones_from_the_future() -> None:
    window = timedelta(minutes=30)
    assert too_old_or_new(START - timedelta(minutes=29), START, window) is None
    assert too_old_or_new(START + timedelta(minutes=4), START, window) is None
    assert "replay window" in str(too_old_or_new(START - timedelta(minutes=31), START, window))
    assert "future" in str(too_old_or_new(START + timedelta(minutes=6), START, window))


# --- the endpoint, live --------------------------------------------------------------------

def test_an_acknowledgement_in_pagerduty_appears_on_the_incident(
        ctx: JobContext, clock: ManualClock, live: Listener) -> None:
    incident_id = open_outage(ctx, clock)
    answer = post(live, incident_event("ev-ack-1", "incident.acknowledged", clock.now(),
                                       key(incident_id)))
    assert answer.status_code == 202
    assert answer.json() == {"event_id": "ev-ack-1", "outcome": "recorded",
                             "incident_id": incident_id, "reason": ""}
    assert notes(ctx, incident_id) == [
        f"[PagerDuty] Acknowledged in PagerDuty by Tenex Engineer. (PagerDuty incident #2, "
        f"alert {key(incident_id)})"]
    with session_scope(ctx.session_factory) as session:
        incident = status_store.get_incident(session, incident_id)
        assert incident.updates[-1].internal
        assert incident.resolved_at is None
        assert incident.acknowledged_at == clock.now()  # time to acknowledge counts it


def test_only_the_first_acknowledgement_in_pagerduty_is_the_incidents(
        ctx: JobContext, clock: ManualClock, live: Listener) -> None:
    incident_id = open_outage(ctx, clock)
    first = clock.now()
    post(live, incident_event("ev-ack-a", "incident.acknowledged", first, key(incident_id)))
    clock.advance(timedelta(minutes=3))
    post(live, incident_event("ev-unack", "incident.unacknowledged", clock.now(),
                              key(incident_id)))
    post(live, incident_event("ev-ack-b", "incident.acknowledged", clock.now(),
                              key(incident_id, 1)))
    with session_scope(ctx.session_factory) as session:
        assert status_store.get_incident(session, incident_id).acknowledged_at == first
    assert len(notes(ctx, incident_id)) == 3  # every event is still on the timeline


def test_reassignments_name_who_has_it_now(ctx: JobContext, clock: ManualClock,
                                           live: Listener) -> None:
    incident_id = open_outage(ctx, clock)
    for number, event_type in enumerate(("incident.reassigned", "incident.delegated",
                                         "incident.escalated")):
        answer = post(live, incident_event(f"ev-re-{number}", event_type, clock.now(),
                                           key(incident_id, 1), assignees=["Maeve", "Ann"],
                                           escalation_policy="Database on-call"))
        assert answer.json()["outcome"] == "recorded"
    assert [n.split(" (PagerDuty incident")[0] for n in notes(ctx, incident_id)] == [
        "[PagerDuty] Reassigned in PagerDuty to Maeve, Ann by Tenex Engineer.",
        "[PagerDuty] Delegated in PagerDuty to escalation policy Database on-call "
        "(Maeve, Ann) by Tenex Engineer.",
        "[PagerDuty] Escalated in PagerDuty to Maeve, Ann."]


def test_a_wrong_or_missing_signature_is_refused_and_records_nothing(
        ctx: JobContext, clock: ManualClock, live: Listener) -> None:
    incident_id = open_outage(ctx, clock)
    body = incident_event("ev-forged", "incident.acknowledged", clock.now(), key(incident_id))
    forged = post(live, body, secrets=("not-the-secret",))
    assert (forged.status_code, forged.json()["error"]) == (401, "unauthorized")
    unsigned = post(live, body, secrets=())
    assert (unsigned.status_code, unsigned.json()["error"]) == (401, "unauthorized")
    tampered = encoded(body).replace(b"Tenex Engineer", b"Mallory Engineer")
    headers = {"Content-Type": "application/json",
               "X-PagerDuty-Signature": signature_header(encoded(body), [SECRET])}
    assert httpx.post(live.url + PATH, content=tampered, headers=headers).status_code == 401
    assert notes(ctx, incident_id) == []
    assert stored_events(ctx) == {}


def test_during_a_rotation_any_one_matching_signature_is_enough(
        ctx: JobContext, clock: ManualClock, live: Listener) -> None:
    incident_id = open_outage(ctx, clock)
    body = incident_event("ev-rot", "incident.acknowledged", clock.now(), key(incident_id))
    assert post(live, body, secrets=(OLD_SECRET, SECRET)).status_code == 202
    assert len(notes(ctx, incident_id)) == 1


@pytest.mark.parametrize("offset", [timedelta(minutes=-31), timedelta(minutes=6)])
def test_an_event_outside_the_replay_window_is_refused(
        offset: timedelta, ctx: JobContext, clock: ManualClock, live: Listener) -> None:
    incident_id = open_outage(ctx, clock)
    answer = post(live, incident_event("ev-old", "incident.acknowledged", clock.now() + offset,
                                       key(incident_id)))
    assert (answer.status_code, answer.json()["error"]) == (400, "stale_event")
    assert notes(ctx, incident_id) == []
    assert stored_events(ctx) == {}


def test_the_replay_window_is_a_setting(tmp_path: Path, engine: Engine,
                                        clock: ManualClock) -> None:
    url = engine.url.render_as_string(hide_password=False)
    for web in serve(pd_settings(tmp_path, url, pagerduty_webhook_max_age_s=60), clock):
        answer = post(web, incident_event("ev-2min", "incident.acknowledged",
                                          clock.now() - timedelta(minutes=2),
                                          key(1)))
        assert answer.status_code == 400


def test_event_types_not_followed_are_answered_and_ignored(
        ctx: JobContext, clock: ManualClock, live: Listener) -> None:
    incident_id = open_outage(ctx, clock)
    before = timeline(ctx, incident_id)
    service = post(live, service_event("ev-service", clock.now()))
    priority = post(live, incident_event("ev-priority", "incident.priority_updated",
                                         clock.now(), key(incident_id)))
    invented = post(live, incident_event("ev-new", "incident.something_new", clock.now(),
                                         key(incident_id)))
    for answer in (service, priority, invented):
        assert answer.status_code == 202
        assert answer.json()["outcome"] == "ignored"
        assert "is not followed" in answer.json()["reason"]
    assert timeline(ctx, incident_id) == before


def test_alerts_that_are_not_ours_or_our_own_events_coming_back_are_ignored(
        ctx: JobContext, clock: ManualClock, live: Listener) -> None:
    incident_id = open_outage(ctx, clock)
    before = timeline(ctx, incident_id)
    theirs = post(live, incident_event("ev-theirs", "incident.acknowledged", clock.now(),
                                       "d3640fbd41094207a1c11e58e46b1662"))
    missing = post(live, incident_event("ev-missing", "incident.acknowledged", clock.now(),
                                        key(incident_id + 100)))
    echo = post(live, incident_event("ev-echo", "incident.resolved", clock.now(),
                                     key(incident_id), agent="Bellwether Tier 1",
                                     agent_type="events_api_v2_inbound_integration_reference"))
    assert [a.json()["outcome"] for a in (theirs, missing, echo)] == ["ignored"] * 3
    assert "not a Bellwether alert" in theirs.json()["reason"]
    assert missing.json()["reason"] == f"Bellwether has no incident {incident_id + 100}"
    assert "integration" in echo.json()["reason"]
    assert timeline(ctx, incident_id) == before


def test_a_redelivered_event_is_recorded_once(ctx: JobContext, clock: ManualClock,
                                              live: Listener) -> None:
    incident_id = open_outage(ctx, clock)
    body = incident_event("ev-twice", "incident.acknowledged", clock.now(), key(incident_id))
    first, again = post(live, body), post(live, body)
    assert [first.json()["outcome"], again.json()["outcome"]] == ["recorded", "duplicate"]
    assert again.status_code == 202
    assert len(notes(ctx, incident_id)) == 1


def test_the_same_event_arriving_four_times_at_once_is_recorded_once(
        ctx: JobContext, clock: ManualClock, live: Listener) -> None:
    incident_id = open_outage(ctx, clock)
    body = incident_event("ev-burst", "incident.reassigned", clock.now(), key(incident_id))
    gate = threading.Barrier(4)
    outcomes: list[str] = []

    def deliver() -> None:
        gate.wait(timeout=10)
        outcomes.append(post(live, body).json()["outcome"])

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["duplicate", "duplicate", "duplicate", "recorded"]
    assert len(notes(ctx, incident_id)) == 1


def test_a_body_that_is_not_an_event_is_refused_even_when_signed(
        ctx: JobContext, live: Listener) -> None:
    for raw in (b"not json", b"[1, 2]", b'{"event": {"id": "x"}}',
                b'{"event": {"id": "x", "event_type": "incident.acknowledged", '
                b'"occurred_at": "yesterday"}}'):
        answer = post(live, {}, raw=raw)
        assert answer.status_code == 400, raw
        assert answer.json()["error"] in ("malformed_json", "malformed_event")
    assert stored_events(ctx) == {}


def test_without_a_secret_configured_nothing_is_accepted(
        tmp_path: Path, engine: Engine, clock: ManualClock, ctx: JobContext) -> None:
    url = engine.url.render_as_string(hide_password=False)
    settings = replace(pd_settings(tmp_path, url), extra={"incident_group_wait_s": 0})
    incident_id = open_outage(ctx, clock)
    for web in serve(settings, clock):
        body = incident_event("ev-off", "incident.acknowledged", clock.now(), key(incident_id))
        signed = post(web, body)
        assert (signed.status_code, signed.json()["error"]) == (503, "unavailable")
        assert "pagerduty_webhook_secret" in signed.json()["detail"]
        assert post(web, body, secrets=()).status_code == 401
    assert notes(ctx, incident_id) == []


# --- a resolve in PagerDuty while probes still see the outage ------------------------------

def test_a_resolve_in_pagerduty_does_not_resolve_an_outage_probes_still_see(
        ctx: JobContext, clock: ManualClock, live: Listener) -> None:
    incident_id = open_outage(ctx, clock)
    clock.advance(timedelta(seconds=30))
    answer = post(live, incident_event("ev-resolve", "incident.resolved", clock.now(),
                                       key(incident_id)))
    assert answer.json()["outcome"] == "watching"
    [recorded] = notes(ctx, incident_id)
    assert recorded.startswith("[PagerDuty] Resolved in PagerDuty by Tenex Engineer. This "
                               "does not resolve the incident here")
    # Nothing new was evaluated since: no follow-up yet.
    assert follow_up_pagerduty(ctx) == 0
    assert len(notes(ctx, incident_id)) == 1

    clock.advance(timedelta(seconds=5))
    track_incidents(ctx)  # the next evaluation: auth still fails in Europe
    assert follow_up_pagerduty(ctx) == 1
    follow_up = notes(ctx, incident_id)[-1]
    assert follow_up == (
        "[PagerDuty] Resolved in PagerDuty by Tenex Engineer at 12:00:31 UTC, but probes "
        f"still see it failing: auth ({EU}) major_outage. The incident stays open, and "
        "PagerDuty's alert stays closed.")
    with session_scope(ctx.session_factory) as session:
        incident = status_store.get_incident(session, incident_id)
        assert (incident.resolved_at, incident.status) == (None, "investigating")
        assert [u.internal for u in incident.updates[-2:]] == [True, True]
    clock.advance(timedelta(seconds=5))
    track_incidents(ctx)
    assert follow_up_pagerduty(ctx) == 0  # said once
    assert len(notes(ctx, incident_id)) == 2
    assert stored_events(ctx) == {"ev-resolve": "followed"}


def test_a_resolve_in_pagerduty_followed_by_recovery_adds_nothing_more(
        ctx: JobContext, clock: ManualClock, live: Listener) -> None:
    incident_id = open_outage(ctx, clock)
    post(live, incident_event("ev-resolve-ok", "incident.resolved", clock.now(),
                              key(incident_id)))
    back = clock.now() + timedelta(seconds=1)
    set_state(ctx, "operational", back)
    for seconds in (2, 200):  # monitoring, then resolved after the 90 s cool-down
        clock.advance(back + timedelta(seconds=seconds) - clock.now())
        track_incidents(ctx)
        follow_up_pagerduty(ctx)
    with session_scope(ctx.session_factory) as session:
        assert status_store.get_incident(session, incident_id).resolved_at is not None
    assert len(notes(ctx, incident_id)) == 1
    assert stored_events(ctx) == {"ev-resolve-ok": "followed"}


def test_a_resolve_reopened_in_pagerduty_is_not_followed_up(
        ctx: JobContext, clock: ManualClock, live: Listener) -> None:
    incident_id = open_outage(ctx, clock)
    post(live, incident_event("ev-res", "incident.resolved", clock.now(), key(incident_id)))
    clock.advance(timedelta(seconds=10))
    reopened = post(live, incident_event("ev-reo", "incident.reopened", clock.now(),
                                         key(incident_id)))
    assert reopened.json()["outcome"] == "recorded"
    clock.advance(timedelta(seconds=5))
    track_incidents(ctx)  # still failing, but PagerDuty has the alert open again
    assert follow_up_pagerduty(ctx) == 0
    assert [n.split(".")[0] for n in notes(ctx, incident_id)] == [
        "[PagerDuty] Resolved in PagerDuty by Tenex Engineer",
        "[PagerDuty] Reopened in PagerDuty by Tenex Engineer"]
    assert stored_events(ctx) == {"ev-res": "followed", "ev-reo": "recorded"}


def test_a_resolve_of_an_incident_already_resolved_here_is_only_recorded(
        ctx: JobContext, clock: ManualClock, live: Listener) -> None:
    incident_id = open_outage(ctx, clock)
    set_state(ctx, "operational", clock.now())
    clock.advance(timedelta(minutes=5))
    track_incidents(ctx)
    answer = post(live, incident_event("ev-late", "incident.resolved", clock.now(),
                                       key(incident_id)))
    assert answer.json()["outcome"] == "recorded"
    assert notes(ctx, incident_id)[-1].startswith(
        "[PagerDuty] Resolved in PagerDuty by Tenex Engineer. (PagerDuty incident")


def test_old_event_ids_are_dropped_after_a_week_but_watching_ones_stay(
        ctx: JobContext, clock: ManualClock, live: Listener) -> None:
    incident_id = open_outage(ctx, clock)
    post(live, incident_event("ev-a", "incident.acknowledged", clock.now(), key(incident_id)))
    post(live, incident_event("ev-r", "incident.resolved", clock.now(), key(incident_id)))
    clock.advance(timedelta(days=8))
    follow_up_pagerduty(ctx)
    with session_scope(ctx.session_factory) as session:
        assert session.scalar(select(func.count()).select_from(PagerDutyEvent)) == 1
    assert stored_events(ctx) == {"ev-r": "watching"}
