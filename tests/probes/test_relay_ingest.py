"""The relay at the ingest (POST /api/v1/ingest): a failure that starts a run at one location is
recorded once, and every other location's agent finds it in its answers until it expires."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, delete, select

from app import create_app
from core.config import Settings
from core.models import Role
from probes.checks import CheckResult
from probes.models import Agent, RecheckRow
from tests.conftest import make_token
from tests.support.clock import ManualClock

REGION = "europe-west1.gcp"
START = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def result(component: str, location: str, ok: bool, at: datetime) -> dict[str, Any]:
    return CheckResult(probe=f"{component}.x", component=component, region=REGION,
                       location=location, intended_at=at, started_at=at, ok=ok,
                       latency_ms=3.0).to_json()


@pytest.fixture
def app(settings: Settings, clock: ManualClock) -> Iterator[Flask]:
    app = create_app(settings, clock=clock)
    yield app
    app.extensions["bellwether"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def component(engine: Engine) -> Iterator[str]:
    """A component of this test's own; its requests and agents are removed after it."""
    name = f"r{uuid.uuid4().hex[:8]}"
    yield name
    with engine.begin() as conn:
        conn.execute(delete(RecheckRow).where(RecheckRow.component == name))
        conn.execute(delete(Agent).where(Agent.name.startswith(name)))


class Locations:
    """Two locations of one agent token, each posting as its own agent."""

    def __init__(self, client: FlaskClient, token: str, component: str) -> None:
        self.client, self.token, self.component = client, token, component

    def post(self, location: str, checks: list[dict[str, Any]],
             agent: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {"checks": checks}
        if agent:
            body["agent"] = {"name": f"{self.component}-{location}",
                             "location": f"{self.component}-{location}"}
        answer = self.client.post("/api/v1/ingest", json=body, headers=bearer(self.token))
        assert answer.status_code == 200, answer.get_json()
        return dict(answer.get_json())

    def asked_of(self, location: str) -> list[dict[str, Any]]:
        """The re-checks of this test's component in `location`'s answer to an empty batch."""
        rechecks = self.post(location, [])["rechecks"]
        return [r for r in rechecks if r["component"] == self.component]


@pytest.fixture
def locations(client: FlaskClient, engine: Engine, component: str) -> Locations:
    token = make_token(engine, Role.AGENT, (f"{component}-a", f"{component}-b"))
    return Locations(client, token, component)


def test_a_first_failure_is_relayed_to_the_other_location_once_until_it_expires(
        locations: Locations, component: str, clock: ManualClock, engine: Engine) -> None:
    loc_a = f"{component}-a"
    passed = result(component, loc_a, True, START - timedelta(seconds=30))
    failed = result(component, loc_a, False, START - timedelta(seconds=1))
    sent = locations.post("a", [passed, failed])
    assert sent["stored"] == 2
    assert [r for r in sent["rechecks"] if r["component"] == component] == []  # not its own

    expected = {"id": failed["id"], "component": component, "region": REGION,
                "location": loc_a, "expires_at": (START + timedelta(seconds=30)).isoformat()}
    assert locations.asked_of("b") == [expected]
    assert locations.post("a", [passed, failed])["duplicates"] == 2  # the batch again
    clock.advance(timedelta(seconds=10))
    locations.post("a", [result(component, loc_a, False, START + timedelta(seconds=9))])
    assert locations.asked_of("b") == [expected]  # the run goes on: nothing new

    clock.advance(timedelta(seconds=21))
    assert locations.asked_of("b") == []
    with engine.connect() as conn:
        rows = conn.scalars(select(RecheckRow.id).where(RecheckRow.component == component))
        assert list(rows) == [failed["id"]]


def test_an_empty_batch_asks_for_rechecks_without_writing_and_no_agent_gets_no_list(
        locations: Locations, component: str, engine: Engine) -> None:
    answer = locations.post("b", [])
    assert answer["received"] == 0
    assert isinstance(answer["rechecks"], list)
    with engine.connect() as conn:
        assert conn.scalar(select(Agent.name).where(Agent.name.startswith(component))) is None
    loc_a = f"{component}-a"
    plain = locations.post("a", [result(component, loc_a, True, START)], agent=False)
    assert plain == {"received": 1, "stored": 1, "duplicates": 0}  # as before the relay


def test_a_failure_from_a_backlog_older_than_its_interval_asks_nothing(
        locations: Locations, component: str) -> None:
    old = result(component, f"{component}-a", False, START - timedelta(seconds=31))
    assert locations.post("a", [old])["stored"] == 1
    assert locations.asked_of("b") == []
