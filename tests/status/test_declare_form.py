"""The incident declaration form: a whole region at one state, per-component overrides that
win, built-in templates that pre-fill the form, and the API's refusals in the API's words."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from commerce.catalog import SERVICES
from core.db import make_session_factory, session_scope
from core.models import Role
from status.declared import NOT_AFFECTED, TEMPLATES, IncidentTemplate, picked_components
from status.incidents import TRANSACTION
from status.models import Incident
from tests.status.conftest import AU, EU, US, log_in

User = Callable[[Role], tuple[int, str, str]]
COMPONENTS = (*SERVICES, TRANSACTION)


@pytest.fixture
def support(api: FlaskClient, make_user: User) -> tuple[str, str]:
    """A support engineer logged in: the session's CSRF token and an API token."""
    user_id, _, token = make_user(Role.SUPPORT)
    return log_in(api, user_id), token


@pytest.fixture
def csrf(support: tuple[str, str]) -> str:
    return support[0]


def declare(api: FlaskClient, csrf: str, fields: dict[str, str]) -> int:
    form = {"csrf_token": csrf, "title": "Europe down", "impact": "critical",
            "status": "investigating", "message": "We are on it.", **fields}
    response = api.post("/admin/incidents", data=form)
    assert response.status_code == 303, response.get_data(as_text=True)
    return int(response.headers["Location"].rsplit("/", 1)[1])


def affected(engine: Engine, incident_id: int) -> set[tuple[str, str, str]]:
    with session_scope(make_session_factory(engine)) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        return {(c.component, c.region, c.state) for c in incident.components}


def test_a_whole_region_declares_every_component_of_it(
        api: FlaskClient, csrf: str, app_engine: Engine) -> None:
    incident_id = declare(api, csrf, {f"region-{EU}": "major_outage"})
    assert affected(app_engine, incident_id) == {
        (component, EU, "major_outage") for component in COMPONENTS}
    assert len(COMPONENTS) == 9


def test_overrides_win_over_the_whole_region(api: FlaskClient, csrf: str,
                                             app_engine: Engine) -> None:
    incident_id = declare(api, csrf, {
        f"region-{EU}": "partial_outage", f"state-orders-{EU}": "major_outage",
        f"state-carts-{EU}": NOT_AFFECTED, f"state-search-{US}": "degraded_performance"})
    expected = {(c, EU, "partial_outage") for c in COMPONENTS if c not in ("orders", "carts")}
    assert affected(app_engine, incident_id) == expected | {
        ("orders", EU, "major_outage"), ("search", US, "degraded_performance")}


def test_a_bad_state_is_refused_in_the_apis_words_and_the_input_is_kept(
        api: FlaskClient, support: tuple[str, str], app_engine: Engine) -> None:
    csrf, api_token = support
    form = {"csrf_token": csrf, "title": "Kept title", "impact": "minor",
            "status": "investigating", "message": "m", f"region-{AU}": "on_fire"}
    web = api.post("/admin/incidents", data=form)
    json_body = {"title": "Kept title", "impact": "minor", "message": "m",
                 "components": picked_components(form, COMPONENTS, [EU, US, AU])}
    token = api.post("/api/v1/incidents", json=json_body,
                     headers={"Authorization": f"Bearer {api_token}"})
    assert web.status_code == token.status_code == 400
    detail = token.get_json()["detail"]
    assert detail == (f"components[0]: auth in {AU}: 'state' must be one of operational, "
                      "degraded_performance, partial_outage, major_outage")
    html = web.get_data(as_text=True)
    assert detail.replace("'", "&#39;") in html
    assert 'value="Kept title"' in html
    with session_scope(make_session_factory(app_engine)) as session:
        assert session.query(Incident).filter_by(title="Kept title").count() == 0


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.key)
def test_a_template_link_prefills_title_impact_and_message(
        api: FlaskClient, csrf: str, template: IncidentTemplate) -> None:
    blank = api.get("/admin/incidents").get_data(as_text=True)
    assert f'href="/admin/incidents?template={template.key}#declare-h"' in blank
    assert template.message not in blank
    html = api.get(f"/admin/incidents?template={template.key}").get_data(as_text=True)
    title = f'<input id="title" name="title" maxlength="200" required value="{template.title}">'
    assert title in html
    assert f'<option value="{template.impact.value}" selected>' in html
    assert f">{template.message}</textarea>" in html


def test_the_picker_shows_one_select_per_region_and_folds_the_components_away(
        api: FlaskClient, csrf: str) -> None:
    html = api.get("/admin/incidents").get_data(as_text=True)
    for region in (EU, US, AU):
        assert f'<select id="region-{region}" name="region-{region}">' in html
        assert f"<summary>Single components in {region}</summary>" in html
    assert "<details open" not in html
