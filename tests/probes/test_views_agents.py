"""Agents through the HTTP API: tokens bound to locations at ingest, heartbeats, and the
admins' list of agents with who is silent."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, delete, func, select

from app import create_app
from core.config import Settings
from core.models import Role
from probes.checks import CheckResult
from probes.models import Agent, CheckRow
from tests.conftest import make_token
from tests.support.clock import ManualClock

REGION = "europe-west1.gcp"
START = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def batch(component: str, *locations: str) -> list[dict[str, Any]]:
    return [CheckResult(probe=f"{component}.x", component=component, region=REGION,
                        location=location, intended_at=START + timedelta(seconds=i),
                        started_at=START + timedelta(seconds=i), ok=True,
                        latency_ms=3.0).to_json() for i, location in enumerate(locations)]


def stored(engine: Engine, component: str) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(CheckRow)
                               .where(CheckRow.component == component)) or 0)


def agent_row(engine: Engine, name: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(Agent).where(Agent.name == name)).first()


@pytest.fixture
def names(engine: Engine) -> Iterator[str]:
    """A prefix for this test's locations and agents; their rows are removed after it."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    yield prefix
    with engine.begin() as conn:
        conn.execute(delete(Agent).where(Agent.name.startswith(prefix)))


def test_an_agent_token_submits_only_for_its_locations_and_a_foreign_batch_stores_nothing(
        client: FlaskClient, engine: Engine, names: str) -> None:
    loc_a, loc_b = f"{names}-a", f"{names}-b"
    token = make_token(engine, Role.AGENT, (loc_a,))
    component = f"c-{uuid.uuid4().hex[:6]}"
    mixed = client.post("/api/v1/ingest", headers=bearer(token),
                        json={"checks": batch(component, loc_a, loc_a, loc_b)})
    assert mixed.status_code == 403
    assert mixed.get_json()["error"] == "location_not_allowed"
    assert f"not for location {loc_b}" in mixed.get_json()["detail"]
    assert stored(engine, component) == 0
    as_b = client.post("/api/v1/ingest", headers=bearer(token),
                       json={"checks": batch(component, loc_b),
                             "agent": {"name": loc_b, "location": loc_b}})
    assert as_b.status_code == 403
    assert agent_row(engine, loc_b) is None
    own = client.post("/api/v1/ingest", headers=bearer(token),
                      json={"checks": batch(component, loc_a, loc_a)})
    assert own.get_json() == {"received": 2, "stored": 2, "duplicates": 0}
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'bellwether_ingest_checks_total{result="refused"}' in metrics


def test_an_agent_token_with_two_locations_may_submit_for_both(
        client: FlaskClient, engine: Engine, names: str) -> None:
    loc_a, loc_b = f"{names}-a", f"{names}-b"
    token = make_token(engine, Role.AGENT, (loc_a, loc_b))
    component = f"c-{uuid.uuid4().hex[:6]}"
    answer = client.post("/api/v1/ingest", headers=bearer(token),
                         json={"checks": batch(component, loc_a, loc_b)})
    assert answer.status_code == 200
    assert stored(engine, component) == 2


def test_an_agent_token_without_locations_is_told_to_reissue_it(
        client: FlaskClient, engine: Engine, names: str) -> None:
    token = make_token(engine, Role.AGENT)
    component = f"c-{uuid.uuid4().hex[:6]}"
    answer = client.post("/api/v1/ingest", headers=bearer(token),
                         json={"checks": batch(component, f"{names}-a")})
    assert answer.status_code == 403
    assert "reissue with --location" in answer.get_json()["detail"]
    assert stored(engine, component) == 0
    beat = client.post("/api/v1/agents/heartbeat", headers=bearer(token),
                       json={"name": f"{names}-a", "location": f"{names}-a"})
    assert beat.status_code == 403
    assert client.get("/api/v1/probes", headers=bearer(token)).status_code == 200


def test_admin_tokens_submit_for_any_location(client: FlaskClient, engine: Engine,
                                              admin_token: str, names: str) -> None:
    component = f"c-{uuid.uuid4().hex[:6]}"
    answer = client.post("/api/v1/ingest", headers=bearer(admin_token),
                         json={"checks": batch(component, f"{names}-x", f"{names}-y")})
    assert answer.status_code == 200
    assert stored(engine, component) == 2


@pytest.fixture
def manual_app(settings: Settings, clock: ManualClock) -> Iterator[Flask]:
    app = create_app(settings, clock=clock)
    yield app
    app.extensions["bellwether"].engine.dispose()


def test_heartbeats_and_batches_record_the_agent_once_each_and_admins_see_who_is_silent(
        manual_app: Flask, clock: ManualClock, engine: Engine, admin_token: str,
        names: str) -> None:
    client = manual_app.test_client()
    location = f"{names}-a"
    shard = f"{location}-shard1of2"
    token = make_token(engine, Role.AGENT, (location,))
    first = client.post("/api/v1/agents/heartbeat", headers=bearer(token),
                        json={"name": location, "location": location, "version": "0.1"},
                        environ_base={"REMOTE_ADDR": "127.0.0.7"})
    answer = first.get_json()
    assert answer.pop("catalogue_version")
    assert answer == {"name": location, "seen_at": START.isoformat(), "interval_s": 30}
    clock.advance(timedelta(seconds=20))
    sent = client.post("/api/v1/ingest", headers=bearer(token), json={
        "checks": batch(f"c-{uuid.uuid4().hex[:6]}", location) * 3,
        "agent": {"name": shard, "location": location, "version": "0.2"}})
    assert sent.get_json()["received"] == 3
    row = agent_row(engine, location)
    assert (row.location, row.version, row.address) == (location, "0.1", "127.0.0.7")
    assert row.first_seen_at == row.last_seen_at == START
    assert agent_row(engine, shard).last_seen_at == START + timedelta(seconds=20)

    clock.advance(timedelta(seconds=75))  # the first agent: 95 s unheard; the shard 75 s
    listed = client.get("/api/v1/agents", headers=bearer(admin_token)).get_json()
    mine = {a["name"]: a for a in listed["agents"] if a["name"].startswith(names)}
    assert {name: a["status"] for name, a in mine.items()} == {location: "silent",
                                                              shard: "ok"}
    assert mine[location]["last_seen_at"] == START.isoformat()
    assert mine[shard]["version"] == "0.2"
    assert mine[location]["seconds_since_seen"] == 95.0

    again = client.post("/api/v1/agents/heartbeat", headers=bearer(token),
                        json={"name": location, "location": location, "version": "0.1"})
    assert again.status_code == 200
    row = agent_row(engine, location)
    assert (row.first_seen_at, row.last_seen_at) == (START, START + timedelta(seconds=95))
    listed = client.get("/api/v1/agents", headers=bearer(admin_token)).get_json()
    assert {a["name"]: a["status"] for a in listed["agents"]}[location] == "ok"
    assert client.get("/api/v1/agents", headers=bearer(token)).status_code == 403


def test_a_heartbeat_for_another_location_or_malformed_is_refused(
        client: FlaskClient, engine: Engine, names: str) -> None:
    token = make_token(engine, Role.AGENT, (f"{names}-a",))
    other = client.post("/api/v1/agents/heartbeat", headers=bearer(token),
                        json={"name": f"{names}-b", "location": f"{names}-b"})
    assert other.status_code == 403
    assert f"{names}-b" in other.get_json()["detail"]
    bad = client.post("/api/v1/agents/heartbeat", headers=bearer(token),
                      json={"name": "Not A Name", "location": f"{names}-a"})
    assert bad.status_code == 400
    assert bad.get_json()["error"] == "invalid_heartbeat"
    assert agent_row(engine, f"{names}-b") is None


def test_an_agent_that_says_it_stops_is_listed_and_exported_stopped_until_it_reports_again(
        manual_app: Flask, clock: ManualClock, engine: Engine, admin_token: str,
        names: str) -> None:
    client = manual_app.test_client()
    location = f"{names}-a"
    token = make_token(engine, Role.AGENT, (location,))
    identity = {"name": location, "location": location}

    def status() -> str:
        listed = client.get("/api/v1/agents", headers=bearer(admin_token)).get_json()
        return str({a["name"]: a["status"] for a in listed["agents"]}[location])

    assert client.post("/api/v1/agents/heartbeat", headers=bearer(token),
                       json=identity).status_code == 200
    clock.advance(timedelta(seconds=10))
    assert client.post("/api/v1/agents/heartbeat", headers=bearer(token),
                       json={**identity, "stopping": True}).status_code == 200
    clock.advance(timedelta(seconds=600))
    assert status() == "stopped"
    metrics = client.get("/metrics").get_data(as_text=True)
    stamp = (START + timedelta(seconds=10)).timestamp()
    seen = f'bellwether_agent_last_seen_timestamp_seconds{{agent="{location}",' \
        f'location="{location}"}} '
    assert [float(line[len(seen):]) for line in metrics.splitlines()
            if line.startswith(seen)] == [stamp]
    assert (f'bellwether_agent_status{{agent="{location}",location="{location}",'
            'status="stopped"} 1.0') in metrics
    assert client.post("/api/v1/agents/heartbeat", headers=bearer(token),
                       json=identity).status_code == 200
    assert status() == "ok"
    assert agent_row(engine, location).silent_since is None
    clock.advance(timedelta(seconds=100))
    assert status() == "silent"


def test_the_heartbeat_answer_names_a_new_catalogue_version_when_a_probe_is_disabled(
        manual_app: Flask, engine: Engine, admin_token: str, names: str) -> None:
    client = manual_app.test_client()
    location = f"{names}-a"
    token = make_token(engine, Role.AGENT, (location,))

    def version() -> str:
        return str(client.post("/api/v1/agents/heartbeat", headers=bearer(token), json={
            "name": location, "location": location}).get_json()["catalogue_version"])

    probe = {"component": "search", "region": REGION,
             "steps": [{"method": "GET", "path": "/health"}]}
    name = f"{names}-probe"
    made = client.put(f"/api/v1/probes/{name}", headers=bearer(admin_token), json=probe)
    assert made.status_code == 200, made.get_data(as_text=True)
    try:
        before = version()
        assert version() == before
        changed = client.put(f"/api/v1/probes/{name}", headers=bearer(admin_token),
                             json={**probe, "enabled": False})
        assert changed.status_code == 200, changed.get_data(as_text=True)
        assert version() != before
    finally:
        client.delete(f"/api/v1/probes/{name}", headers=bearer(admin_token))
