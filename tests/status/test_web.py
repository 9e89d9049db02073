"""The support engineers' web UI: forms act like the API, every form needs the session's
CSRF token, and whatever people wrote is shown escaped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select

from core.db import make_session_factory, session_scope
from core.models import Role
from status.models import Incident, IncidentUpdate, Maintenance
from tests.status.conftest import EU, US, log_in

User = Callable[[Role], tuple[int, str, str]]
SCRIPT = "<script>alert('x')</script>"
ESCAPED = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"


@pytest.fixture
def csrf(api: FlaskClient, make_user: User) -> str:
    """A support engineer logged in; the session's CSRF token."""
    user_id, _, _ = make_user(Role.SUPPORT)
    return log_in(api, user_id)


def rows(engine: Engine, model: type[Any]) -> int:
    with session_scope(make_session_factory(engine)) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def declare_form(api: FlaskClient, csrf: str, **fields: str) -> int:
    form = {"csrf_token": csrf, "title": f"Checkout {SCRIPT}", "impact": "major",
            "status": "investigating", "message": f"Details {SCRIPT}",
            f"state-orders-{EU}": "major_outage", f"state-carts-{US}": "partial_outage",
            **fields}
    response = api.post("/admin/incidents", data=form)
    assert response.status_code == 303, response.get_data(as_text=True)
    return int(response.headers["Location"].rsplit("/", 1)[1])


def test_a_declared_incident_is_stored_as_written_and_shown_escaped(
        api: FlaskClient, csrf: str, app_engine: Engine) -> None:
    incident_id = declare_form(api, csrf)
    api.post(f"/admin/incidents/{incident_id}/updates",
             data={"csrf_token": csrf, "status": "identified", "body": f"Cause {SCRIPT}",
                   "impact": "major", "edit_components": "1",
                   f"state-orders-{EU}": "major_outage"})
    with session_scope(make_session_factory(app_engine)) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        assert incident.title == f"Checkout {SCRIPT}"
        assert {(c.component, c.region, c.state) for c in incident.components} == {
            ("orders", EU, "major_outage"), ("carts", US, "operational")}
    for path in ("/admin/incidents", f"/admin/incidents/{incident_id}"):
        html = api.get(path).get_data(as_text=True)
        assert SCRIPT not in html
        assert ESCAPED in html
    detail = api.get(f"/admin/incidents/{incident_id}").get_data(as_text=True)
    assert f"Cause {ESCAPED}" in detail
    assert "time to detect" in detail
    assert "time to acknowledge" in detail
    public = api.get(f"/incidents/{incident_id}")  # the public site's own page
    assert public.status_code == 200
    assert SCRIPT not in public.get_data(as_text=True)
    assert "Checkout &lt;script&gt;" in public.get_data(as_text=True)


def test_a_form_without_the_csrf_token_is_refused_and_nothing_is_stored(
        api: FlaskClient, csrf: str, app_engine: Engine) -> None:
    before = (rows(app_engine, Incident), rows(app_engine, IncidentUpdate))
    form = {"title": "t", "impact": "minor", "status": "investigating", "message": "m"}
    missing = api.post("/admin/incidents", data=form)
    wrong = api.post("/admin/incidents", data={**form, "csrf_token": csrf[:-1] + "x"})
    assert missing.status_code == wrong.status_code == 400
    assert "CSRF token" in missing.get_data(as_text=True)
    assert (rows(app_engine, Incident), rows(app_engine, IncidentUpdate)) == before
    assert api.post("/admin/maintenance", data={"title": "w"}).status_code == 400
    logout = api.post("/logout")
    assert (logout.status_code, logout.get_json()["error"]) == (400, "csrf_failed")


def test_the_token_may_come_as_a_header(api: FlaskClient, csrf: str) -> None:
    response = api.post("/admin/incidents", headers={"X-CSRF-Token": csrf},
                        data={"title": "t", "impact": "minor", "status": "investigating",
                              "message": "m"})
    assert response.status_code == 303


def test_acknowledge_take_over_and_resolve_by_form(api: FlaskClient, csrf: str,
                                                   app_engine: Engine) -> None:
    incident_id = declare_form(api, csrf)
    base = f"/admin/incidents/{incident_id}"
    assert api.post(f"{base}/acknowledge", data={"csrf_token": csrf}).status_code == 303
    refused = api.post(f"{base}/take-over", data={"csrf_token": csrf, "title": "x",
                                                  "message": "y"})
    assert refused.status_code == 409
    assert "only automatic incidents" in refused.get_data(as_text=True)
    assert api.post(f"{base}/resolve", data={"csrf_token": csrf, "body": "Done."}
                    ).status_code == 303
    with session_scope(make_session_factory(app_engine)) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        assert incident.acknowledged_at is not None
        assert incident.resolved_at is not None
        assert incident.updates[-1].body == "Done."


def test_a_bad_form_shows_what_to_fix_and_stores_nothing(api: FlaskClient, csrf: str,
                                                         app_engine: Engine) -> None:
    before = rows(app_engine, Incident)
    response = api.post("/admin/incidents", data={"csrf_token": csrf, "title": "",
                                                  "impact": "minor", "message": "m"})
    assert response.status_code == 400
    assert "&#39;title&#39; must not be empty" in response.get_data(as_text=True)
    assert rows(app_engine, Incident) == before


def test_maintenance_by_form_is_shown_escaped_and_can_be_cancelled(
        api: FlaskClient, csrf: str, app_engine: Engine) -> None:
    response = api.post("/admin/maintenance", data={
        "csrf_token": csrf, "title": f"Upgrade {SCRIPT}", "message": "",
        "starts_at": "2026-10-09T02:00", "ends_at": "2026-10-09T03:00",
        "components": ["orders", "carts"], "regions": [EU]})
    assert response.status_code == 303
    with session_scope(make_session_factory(app_engine)) as session:
        window = session.scalars(select(Maintenance).order_by(Maintenance.id.desc())).first()
        assert window is not None
        assert window.starts_at.isoformat() == "2026-10-09T02:00:00+00:00"
        assert sorted((s.component, s.region) for s in window.scopes) == [
            ("carts", EU), ("orders", EU)]
        window_id = window.id
    page = api.get("/admin/maintenance").get_data(as_text=True)
    assert ESCAPED in page
    assert SCRIPT not in page
    assert api.post(f"/admin/maintenance/{window_id}/cancel",
                    data={"csrf_token": csrf}).status_code == 303
    assert "cancelled" in api.get("/admin/maintenance").get_data(as_text=True)
