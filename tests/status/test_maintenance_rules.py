"""Maintenance rules through the API and the form alike (issue 12): a window with less than
7 days' notice needs a stated reason, which is stored, listed and keeps the window out of
the SLA's exclusions; no window covers minutes already booked as downtime."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select

from core.db import make_session_factory, session_scope
from core.models import Role
from probes.models import ComponentMinute, ComponentState
from status import store
from status.models import Maintenance
from tests.status.conftest import EU, START, US, log_in
from tests.support.databases import create_database, drop_database

User = Callable[[Role], tuple[int, str, str]]
HOUR = timedelta(hours=1)


@pytest.fixture
def module_url(tmp_path: Path) -> Iterator[str]:
    """A database per test: booked downtime from another test must not refuse a window."""
    from core import migrate

    url = create_database(tmp_path, "maintrules")
    migrate.upgrade(url)
    yield url
    drop_database(url)


@pytest.fixture
def support(make_user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_user(Role.SUPPORT)[2]}"}


@pytest.fixture
def csrf(api: FlaskClient, make_user: User) -> str:
    return log_in(api, make_user(Role.SUPPORT)[0])


def windows(engine: Engine) -> int:
    with session_scope(make_session_factory(engine)) as session:
        return int(session.scalar(select(func.count()).select_from(Maintenance)) or 0)


def body(start: timedelta, **change: Any) -> dict[str, Any]:
    return {"title": "Patch the database", "message": "Orders may fail briefly.",
            "starts_at": (START + start).isoformat(),
            "ends_at": (START + start + HOUR).isoformat(),
            "components": ["orders"], "regions": [EU], **change}


def form(csrf: str, start: timedelta, **change: Any) -> dict[str, Any]:
    at = START + start
    return {"csrf_token": csrf, "title": "Patch the database", "message": "",
            "starts_at": f"{at:%Y-%m-%dT%H:%M}", "ends_at": f"{at + HOUR:%Y-%m-%dT%H:%M}",
            "components": ["orders"], "regions": [EU], **change}


def test_short_notice_without_a_reason_is_refused_by_the_api_and_the_form(
        api: FlaskClient, support: dict[str, str], csrf: str, app_engine: Engine) -> None:
    refused = api.post("/api/v1/maintenance", headers=support, json=body(2 * HOUR))
    assert refused.status_code == 400
    problem = refused.get_json()
    assert problem["error"] == "maintenance_short_notice"
    assert "give the reason for the short notice ('short_notice_reason')" in problem["detail"]
    assert "not excluded from the SLA" in problem["detail"]
    page = api.post("/admin/maintenance", data=form(csrf, 2 * HOUR))
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert "Not scheduled: a window starting before 2026-10-08 12:00 UTC" in html
    assert 'name="short_notice_reason"' in html
    assert windows(app_engine) == 0


def test_short_notice_with_a_reason_is_stored_listed_and_not_excluded_from_the_sla(
        api: FlaskClient, support: dict[str, str], csrf: str, app_engine: Engine) -> None:
    created = api.post("/api/v1/maintenance", headers=support,
                       json=body(2 * HOUR, short_notice_reason="CVE-2026-0001 in <the> driver"))
    assert created.status_code == 201, created.get_json()
    window = created.get_json()
    assert (window["short_notice_reason"], window["excluded_from_sla"]) == (
        "CVE-2026-0001 in <the> driver", False)
    by_form = api.post("/admin/maintenance", data=form(
        csrf, 3 * HOUR, short_notice_reason="Vendor certificate expires tonight"))
    assert by_form.status_code == 303
    planned = api.post("/api/v1/maintenance", headers=support, json=body(timedelta(days=8)))
    assert planned.get_json()["excluded_from_sla"] is True
    listed = {w["title"] + w["starts_at"]: w for w in
              api.get("/api/v1/maintenance").get_json()["maintenance"]}
    assert sorted(w["short_notice_reason"] or "" for w in listed.values()) == [
        "", "CVE-2026-0001 in <the> driver", "Vendor certificate expires tonight"]
    html = api.get("/admin/maintenance").get_data(as_text=True)
    assert "Reason: CVE-2026-0001 in &lt;the&gt; driver" in html
    assert "Reason: Vendor certificate expires tonight" in html
    assert html.count("short notice: counts toward the SLA") == 2
    # The SLA's windows (what reports and budgets exclude) are the planned one's alone.
    with session_scope(make_session_factory(app_engine)) as session:
        sla = store.maintenance_windows_between(session, START, START + timedelta(days=10))
    assert [w.start for w in sla] == [START + timedelta(days=8)]


def declare_outage(api: FlaskClient, support: dict[str, str]) -> int:
    response = api.post("/api/v1/incidents", headers=support, json={
        "title": "Orders failing", "impact": "major", "message": "On it.",
        "components": [{"component": "orders", "region": EU, "state": "major_outage"}]})
    assert response.status_code == 201
    return int(response.get_json()["id"])


def test_a_window_over_an_ongoing_incident_is_refused_by_the_api_and_the_form(
        api: FlaskClient, support: dict[str, str], csrf: str, app_engine: Engine) -> None:
    incident_id = declare_outage(api, support)
    now = body(timedelta(0), short_notice_reason="emergency patch")
    refused = api.post("/api/v1/maintenance", headers=support, json=now)
    assert refused.status_code == 400
    problem = refused.get_json()
    assert problem["error"] == "maintenance_over_downtime"
    assert problem["detail"].startswith(
        f"orders in {EU} is booked as downtime from 2026-10-01 12:00 UTC "
        f"(incident #{incident_id}, still going)")
    page = api.post("/admin/maintenance",
                    data=form(csrf, timedelta(0), short_notice_reason="emergency patch"))
    assert page.status_code == 400
    assert f"(incident #{incident_id}, still going)" in page.get_data(as_text=True)
    assert windows(app_engine) == 0
    # Other regions, or later (the outage's future minutes are not booked yet), are fine.
    assert api.post("/api/v1/maintenance", headers=support,
                    json={**now, "regions": [US]}).status_code == 201
    assert api.post("/api/v1/maintenance", headers=support,
                    json=body(2 * HOUR, short_notice_reason="after it")).status_code == 201


def test_a_window_over_measured_down_minutes_is_refused(
        api: FlaskClient, support: dict[str, str], app_engine: Engine) -> None:
    """The minute before now was measured down (no incident): a window started within the
    forgiven clock skew would swallow it."""
    minute = int(START.timestamp()) // 60 - 1
    with session_scope(make_session_factory(app_engine)) as session:
        session.add(ComponentState(component="orders", region=EU, state="major_outage",
                                   since=START - HOUR, evaluated_at=START))
        session.add(ComponentMinute(component="orders", region=EU, minute=minute, checks=6,
                                    failures=6, degraded=0, locations=3, locations_down=3,
                                    latency_p50_ms=1.0, latency_p95_ms=1.0,
                                    latency_max_ms=1.0, verdict="down"))
    early = body(-timedelta(seconds=50), short_notice_reason="emergency patch")
    refused = api.post("/api/v1/maintenance", headers=support, json=early)
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "maintenance_over_downtime"
    assert "measured down minute" in refused.get_json()["detail"]
    assert windows(app_engine) == 0
    assert api.post("/api/v1/maintenance", headers=support,
                    json={**early, "components": ["carts"]}).status_code == 201


def test_booked_downtime_lists_resolved_and_recovered_spans_with_their_end(
        api: FlaskClient, support: dict[str, str], app_engine: Engine) -> None:
    incident_id = declare_outage(api, support)
    assert api.post(f"/api/v1/incidents/{incident_id}/resolve", headers=support,
                    json={}).status_code == 200
    with session_scope(make_session_factory(app_engine)) as session:
        spans = store.booked_downtime(session, START - HOUR, START + HOUR, START)
        later = store.booked_downtime(session, START + timedelta(minutes=1), START + HOUR,
                                      START)
    assert [(s.component, s.region, s.start, s.end) for s in spans] == [
        ("orders", EU, START, START)]
    assert later == []
    assert isinstance(spans[0].start, datetime)
