"""The public site: pages, Statuspage JSON and feeds from one value, escaped everywhere."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, delete

from core.db import make_session_factory, session_scope
from probes.models import ComponentState
from status.models import (
    Incident,
    IncidentComponent,
    IncidentUpdate,
    Maintenance,
    MaintenanceScope,
)
from tests.support.clock import ManualClock

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
EVIL = "<script>alert('x')</script>"


@pytest.fixture
def seeded(engine: Engine) -> Iterator[dict[str, int]]:
    """Orders down in us-central1, an incident with a hostile title, a maintenance window."""
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        for model in (IncidentUpdate, IncidentComponent, Incident, MaintenanceScope,
                      Maintenance, ComponentState):
            session.execute(delete(model))
        session.add(ComponentState(component="orders", region="us-central1.gcp",
                                   state="major_outage", since=NOW - timedelta(minutes=5),
                                   reason="2 of 3", evaluated_at=NOW))
        incident = Incident(title=f"Orders failing {EVIL}", impact="major",
                            status="investigating", origin="auto", opened_at=NOW,
                            updated_at=NOW, root_component="orders")
        incident.components.append(IncidentComponent(
            component="orders", region="us-central1.gcp", state="major_outage",
            first_affected_at=NOW))
        incident.updates.append(IncidentUpdate(status="investigating", body=f"Looking {EVIL}",
                                               created_at=NOW))
        window = Maintenance(title="Database upgrade", message="Short writes pause",
                             starts_at=NOW - timedelta(minutes=10),
                             ends_at=NOW + timedelta(hours=1), created_at=NOW)
        window.scopes.append(MaintenanceScope(component="import", region="europe-west1.gcp"))
        session.add_all([incident, window])
        session.flush()
        ids = {"incident": incident.id, "maintenance": window.id}
    yield ids
    with session_scope(factory) as session:
        for model in (IncidentUpdate, IncidentComponent, Incident, MaintenanceScope,
                      Maintenance, ComponentState):
            session.execute(delete(model))


@pytest.fixture
def page_client(app: Flask) -> FlaskClient:
    app.extensions["bellwether"].clock = ManualClock(NOW)
    return app.test_client()


def test_the_overview_shows_the_worst_state_and_escapes_incident_text(
        page_client: FlaskClient, seeded: dict[str, int]) -> None:
    html = page_client.get("/").get_data(as_text=True)
    # Statuspage's rule: one of many components in a major outage is a partial outage.
    assert "Partial System Outage" in html
    assert EVIL not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "Database upgrade" in html


def test_a_region_page_groups_components_by_tier_with_words_beside_colours(
        page_client: FlaskClient, seeded: dict[str, int]) -> None:
    html = page_client.get("/regions/us-central1.gcp/").get_data(as_text=True)
    assert "Tier 1: selling" in html
    assert "Tier 2: supporting" in html
    assert 'class="state state-major_outage"' in html
    assert "Major outage" in html
    assert 'data-latency="/regions/us-central1.gcp/latency.json"' in html
    assert page_client.get("/regions/mars-1/").status_code == 404


def test_a_region_page_writes_each_days_words_once(page_client: FlaskClient,
                                                  seeded: dict[str, int]) -> None:
    """The bars are most of a region page: one span per day, no title repeating it."""
    html = page_client.get("/regions/us-central1.gcp/").get_data(as_text=True)
    bars = re.findall(r'<li( tabindex="0")? class="worst-([a-z_]+)"><span>([^<]+)</span></li>',
                      html)
    assert len(bars) == 8 * 90
    assert bars[-1][2].startswith(f"{NOW.date().isoformat()}: ")
    # One tab stop per component, today's bar; status-days.js moves along the others.
    assert [i % 90 for i, (stop, _, _) in enumerate(bars) if stop] == [89] * 8
    words = Counter(label for _, _, label in bars)
    assert all(html.count(label) == times for label, times in words.items())
    assert "title=" not in html.partition('<ol class="bars"')[2]


def test_maintenance_shows_the_covered_component_under_maintenance(
        page_client: FlaskClient, seeded: dict[str, int]) -> None:
    body = page_client.get("/api/v2/components.json?region=europe-west1.gcp").get_json()
    states = {c["name"]: c["status"] for c in body["components"]}
    assert states["import (europe-west1.gcp)"] == "under_maintenance"
    assert states["orders (europe-west1.gcp)"] == "operational"
    maint = page_client.get("/api/v2/scheduled-maintenances.json").get_json()
    assert maint["scheduled_maintenances"][0]["status"] == "in_progress"


def test_statuspage_json_uses_its_names_and_values(page_client: FlaskClient,
                                                    seeded: dict[str, int]) -> None:
    summary = page_client.get("/api/v2/summary.json").get_json()
    assert set(summary) == {"page", "status", "components", "incidents",
                            "scheduled_maintenances"}
    assert summary["status"] == {"indicator": "major", "description": "Partial System Outage"}
    names = {c["name"]: c["status"] for c in summary["components"] if not c["group"]}
    assert names["orders (us-central1.gcp)"] == "major_outage"
    assert len(names) == 3 * 8
    groups = {c["name"]: c for c in summary["components"] if c["group"]}
    assert set(groups) == {"us-central1.gcp", "europe-west1.gcp", "australia-southeast1.gcp"}
    assert groups["us-central1.gcp"]["status"] == "major_outage"
    incident = summary["incidents"][0]
    assert incident["name"] == f"Orders failing {EVIL}"
    assert incident["impact"] == "major"
    assert incident["incident_updates"][0]["body"] == f"Looking {EVIL}"
    eu = page_client.get("/api/v2/summary.json?region=europe-west1.gcp").get_json()
    assert eu["status"] == {"indicator": "maintenance", "description": "Service Under Maintenance"}
    assert eu["incidents"] == []
    assert page_client.get("/api/v2/incidents/unresolved.json").get_json()["incidents"]
    assert page_client.get("/api/v2/nothing.json").status_code == 404
    assert page_client.get("/api/v2/summary.json?region=mars").status_code == 404


def test_the_atom_feeds_are_valid_xml_with_escaped_text(page_client: FlaskClient,
                                                         seeded: dict[str, int]) -> None:
    feed = page_client.get("/feed.atom")
    assert feed.mimetype == "application/atom+xml"
    root = ElementTree.fromstring(feed.get_data())
    ns = {"a": "http://www.w3.org/2005/Atom"}
    titles = [e.text for e in root.findall("a:entry/a:title", ns)]
    assert f"[investigating] Orders failing {EVIL}" in titles
    assert b"<script>" not in feed.get_data()
    regional = ElementTree.fromstring(page_client.get(
        "/regions/europe-west1.gcp/feed.atom").get_data())
    assert [e.text for e in regional.findall("a:entry/a:title", ns)] == [
        "[in_progress] Database upgrade"]


def test_an_incident_page_and_history_show_the_timeline(page_client: FlaskClient,
                                                        seeded: dict[str, int]) -> None:
    html = page_client.get(f"/incidents/{seeded['incident']}").get_data(as_text=True)
    assert "Looking &lt;script&gt;" in html
    assert page_client.get("/incidents/999999").status_code == 404
    assert "Orders failing" in page_client.get("/history").get_data(as_text=True)
    assert page_client.get("/history?page=zero").status_code == 400


def test_answers_carry_etags_and_honour_if_none_match(page_client: FlaskClient,
                                                      seeded: dict[str, int]) -> None:
    first = page_client.get("/api/v2/status.json")
    assert first.headers["ETag"]
    again = page_client.get("/api/v2/status.json",
                            headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def test_plotly_is_served_locally(page_client: FlaskClient) -> None:
    script = page_client.get("/static/plotly.min.js")
    assert script.status_code == 200
    assert len(script.get_data()) > 1_000_000
    script.close()


def test_the_published_copy_is_served_with_304s(app: Flask, tmp_path: Path,
                                                seeded: dict[str, int]) -> None:
    from status.site import Site

    runtime = app.extensions["bellwether"]
    site = Site(runtime.settings)
    with session_scope(runtime.session_factory) as session:
        result = site.publish(session, NOW, tmp_path)
        again = site.publish(session, NOW, tmp_path, previous=result.fingerprint)
    assert result.changed
    assert not again.changed
    assert (tmp_path / "regions/us-central1.gcp/index.html").exists()
    assert (tmp_path / "api/v2/regions/europe-west1.gcp/summary.json").exists()
    assert (tmp_path / f"incidents/{seeded['incident']}/index.html").exists()
    runtime.parts["public_dir"] = tmp_path
    client = app.test_client()
    served = client.get("/api/v2/summary.json")
    assert served.get_data() == (tmp_path / "api/v2/summary.json").read_bytes()
    assert served.headers["Last-Modified"]
    served.close()
    with client.get("/api/v2/summary.json", headers={
            "If-Modified-Since": served.headers["Last-Modified"]}) as cached:
        assert cached.status_code == 304


def test_the_public_90_day_uptime_equals_the_sla_report_for_the_same_days(
        app: Flask, engine: Engine) -> None:
    from sqlalchemy import insert

    from probes import store as probe_store
    from probes.models import ComponentDay, ComponentMinute
    from reports.daily import daily_uptime, uptime_over

    app.extensions["bellwether"].clock = ManualClock(NOW)
    first = int((NOW - timedelta(days=89)).timestamp()) // 60 // 1440 * 1440
    rows = [{"component": "search", "region": "australia-southeast1.gcp", "minute": first + i,
             "checks": 6, "failures": 0, "degraded": 0, "locations": 3, "locations_down": 0,
             "latency_p50_ms": 1.0, "latency_p95_ms": 2.0, "latency_max_ms": 3.0,
             "verdict": "down" if i % 997 == 0 else "up"} for i in range(0, 89 * 1440, 3)]
    with session_scope(make_session_factory(engine)) as session:
        session.execute(delete(ComponentMinute).where(ComponentMinute.component == "search"))
        session.execute(delete(ComponentDay).where(ComponentDay.component == "search"))
        session.execute(insert(ComponentMinute), rows)
        # What the rollup job writes with the minutes: their day summaries.
        probe_store.recount_rollup_days(session, "search", "australia-southeast1.gcp", first,
                                        first + 89 * 1440 - 1)
    try:
        body = app.test_client().get(
            "/api/v2/components.json?region=australia-southeast1.gcp").get_json()
        public = next(c for c in body["components"]
                      if c["name"] == "search (australia-southeast1.gcp)")["uptime_90d_pct"]
        with session_scope(make_session_factory(engine)) as session:
            days = daily_uptime(session, "search", "australia-southeast1.gcp",
                                (NOW - timedelta(days=89)).date(), 90, NOW)
        assert public == float(uptime_over(days))
        assert public < 100
    finally:
        with session_scope(make_session_factory(engine)) as session:
            session.execute(delete(ComponentMinute).where(ComponentMinute.component == "search"))
            session.execute(delete(ComponentDay).where(ComponentDay.component == "search"))
