"""Shown honestly: a pair without data reads "Data delayed" (never Operational, never
`operational` in the Statuspage JSON), a declared incident's states reach the indicator and
the region banner, and an incident watching a recovery shows as monitoring."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, delete

from core.db import make_session_factory, session_scope
from probes.models import ComponentState
from status.models import Incident, IncidentComponent, IncidentUpdate
from tests.support.clock import ManualClock

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
REGION = "us-central1.gcp"


def clear(engine: Engine) -> None:
    with session_scope(make_session_factory(engine)) as session:
        for model in (IncidentUpdate, IncidentComponent, Incident, ComponentState):
            session.execute(delete(model))


@pytest.fixture
def page_client(app: Flask, engine: Engine) -> Iterator[FlaskClient]:
    app.extensions["bellwether"].clock = ManualClock(NOW)
    clear(engine)
    yield app.test_client()
    clear(engine)


def add_state(engine: Engine, component: str, state: str) -> None:
    with session_scope(make_session_factory(engine)) as session:
        session.add(ComponentState(component=component, region=REGION, state=state,
                                   since=NOW - timedelta(minutes=3), reason="1 of 3 locations",
                                   evaluated_at=NOW))


def add_incident(engine: Engine, origin: str, status: str, state: str) -> None:
    with session_scope(make_session_factory(engine)) as session:
        incident = Incident(title="Search trouble", impact="major", status=status,
                            origin=origin, opened_at=NOW - timedelta(minutes=5),
                            updated_at=NOW, root_component="search")
        incident.components.append(IncidentComponent(
            component="search", region=REGION, state=state, first_affected_at=NOW))
        incident.updates.append(IncidentUpdate(status=status, body="We are on it",
                                               created_at=NOW))
        session.add(incident)


def test_a_pair_without_data_reads_data_delayed_never_operational(
        page_client: FlaskClient, engine: Engine) -> None:
    add_state(engine, "search", "no_data")
    region = page_client.get(f"/regions/{REGION}/").get_data(as_text=True)
    assert 'class="state state-no_data"' in region
    assert "Data delayed" in region
    overview = page_client.get("/").get_data(as_text=True)
    assert "All Systems Operational" not in overview
    assert "search (Data delayed)" in overview
    components = page_client.get(f"/api/v2/components.json?region={REGION}").get_json()
    search = next(c for c in components["components"] if c["name"] == f"search ({REGION})")
    assert search["status"] == "degraded_performance"
    assert "data delayed" in search["description"]
    statuses = {c["status"] for c in components["components"]}
    assert statuses <= {"operational", "degraded_performance", "partial_outage",
                        "major_outage", "under_maintenance"}
    status = page_client.get("/api/v2/status.json").get_json()["status"]
    assert status["indicator"] != "none"


def test_a_declared_major_incident_is_never_all_systems_operational(
        page_client: FlaskClient, engine: Engine) -> None:
    add_incident(engine, "declared", "investigating", "major_outage")
    summary = page_client.get("/api/v2/summary.json").get_json()
    # Statuspage's rule: one of many components in a major outage, and an incident of
    # major impact, make a partial system outage.
    assert summary["status"] == {"indicator": "major", "description": "Partial System Outage"}
    search = next(c for c in summary["components"] if c["name"] == f"search ({REGION})")
    assert search["status"] == "major_outage"
    overview = page_client.get("/").get_data(as_text=True)
    assert "All Systems Operational" not in overview
    assert 'class="state state-major_outage"' in overview  # the region's banner


def test_an_incident_in_monitoring_shows_as_monitoring(page_client: FlaskClient,
                                                     engine: Engine) -> None:
    add_incident(engine, "automatic", "monitoring", "major_outage")
    summary = page_client.get("/api/v2/summary.json").get_json()
    # Statuspage's rule: an unresolved incident (monitoring included) raises the page to
    # its impact, here major.
    assert summary["status"] == {"indicator": "major", "description": "Partial System Outage"}
    search = next(c for c in summary["components"] if c["name"] == f"search ({REGION})")
    assert search["status"] == "operational"  # measured: the cool-down follows a recovery
    assert summary["incidents"][0]["monitoring_at"] == "2026-10-01T12:00:00.000Z"
    overview = page_client.get("/").get_data(as_text=True)
    assert 'class="state state-monitoring"' in overview
    assert "All Systems Operational" not in overview
