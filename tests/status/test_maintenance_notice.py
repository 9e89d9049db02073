"""The SLA spec's notice period for maintenance, through the API (a JSON problem) and the
support engineers' form (the page again, with the reason and the input kept). Short notice
with a stated reason: tests/status/test_maintenance_rules.py."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select

from core.db import make_session_factory, session_scope
from core.models import Role
from status.models import Maintenance
from tests.status.conftest import EU, START, log_in

User = Callable[[Role], tuple[int, str, str]]


def windows(engine: Engine) -> int:
    with session_scope(make_session_factory(engine)) as session:
        return session.scalar(select(func.count()).select_from(Maintenance)) or 0


def test_the_api_refuses_short_notice_and_the_past_with_a_problem_body(
        api: FlaskClient, make_user: User, app_engine: Engine) -> None:
    support = {"Authorization": f"Bearer {make_user(Role.SUPPORT)[2]}"}
    before = windows(app_engine)

    def schedule(start: timedelta) -> tuple[int, dict[str, str]]:
        answer = api.post("/api/v1/maintenance", headers=support, json={
            "title": "Database upgrade", "starts_at": (START + start).isoformat(),
            "ends_at": (START + start + timedelta(hours=1)).isoformat(), "regions": [EU]})
        body: dict[str, str] = answer.get_json()
        return answer.status_code, body

    status, short = schedule(timedelta(days=6, hours=23))
    assert (status, short["error"]) == (400, "maintenance_short_notice")
    assert "less than 7 days' notice" in short["detail"]
    assert "a window starting before 2026-10-08 12:00 UTC" in short["detail"]
    status, past = schedule(-timedelta(minutes=5))  # an outage under way cannot be covered
    assert (status, past["error"]) == (400, "maintenance_in_the_past")
    assert windows(app_engine) == before
    status, planned = schedule(timedelta(days=7))
    assert (status, planned["status"]) == (201, "scheduled")
    assert windows(app_engine) == before + 1


def test_the_form_shows_the_rule_and_keeps_the_input_when_it_refuses(
        api: FlaskClient, make_user: User, app_engine: Engine) -> None:
    csrf = log_in(api, make_user(Role.SUPPORT)[0])
    page = api.get("/admin/maintenance").get_data(as_text=True)
    assert "announced at least 7 days ahead" in page
    assert "starting at 2026-10-08 12:00 UTC or later" in page
    assert 'min="2026-10-01T12:00"' in page  # short notice is allowed, the past is not
    before = windows(app_engine)
    refused = api.post("/admin/maintenance", data={
        "csrf_token": csrf, "title": "Quick patch", "message": "Orders pause",
        "starts_at": "2026-10-02T02:00", "ends_at": "2026-10-02T03:00",
        "components": ["orders"], "regions": [EU]})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert 'role="alert"' in html
    assert "Not scheduled: a window starting before 2026-10-08 12:00 UTC is announced with " \
        "less than 7 days&#39; notice: give the reason" in html
    assert 'value="Quick patch"' in html
    assert 'value="2026-10-02T02:00"' in html
    assert 'value="orders" checked' in html
    assert windows(app_engine) == before
    accepted = api.post("/admin/maintenance", data={
        "csrf_token": csrf, "title": "Planned patch", "starts_at": "2026-10-08T12:00",
        "ends_at": "2026-10-08T13:00", "regions": [EU]})
    assert accepted.status_code == 303
    assert windows(app_engine) == before + 1
