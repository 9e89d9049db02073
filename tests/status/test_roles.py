"""Who may do what: every non-public endpoint of incidents and maintenance, API and web,
against anonymous, support engineer, account manager and admin."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from core.db import make_session_factory, session_scope
from core.models import Role
from status.models import Incident, IncidentComponent, Maintenance, MaintenanceScope
from tests.status.conftest import EU, START, csrf_token_of, log_in

User = Callable[[Role], tuple[int, str, str]]
PERSONAS = ("anonymous", "support", "account_manager", "admin")
ALLOWED = {"support", "admin"}
FUTURE = START + timedelta(days=8)  # maintenance needs 7 days' notice


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # {incident} and {window} are filled in per case
    body: dict[str, Any] | None = None

    @property
    def is_api(self) -> bool:
        return self.path.startswith("/api/")


WINDOW = {"title": "Upgrade", "starts_at": FUTURE.isoformat(),
          "ends_at": (FUTURE + timedelta(hours=1)).isoformat()}
ENDPOINTS = (
    Endpoint("POST", "/api/v1/incidents", {"title": "t", "impact": "minor", "message": "m"}),
    Endpoint("POST", "/api/v1/incidents/{incident}/updates",
             {"status": "identified", "body": "b"}),
    Endpoint("POST", "/api/v1/incidents/{incident}/acknowledge"),
    Endpoint("POST", "/api/v1/incidents/{incident}/resolve", {"body": "done"}),
    Endpoint("POST", "/api/v1/incidents/{incident}/take-over", {"title": "t", "message": "m"}),
    Endpoint("POST", "/api/v1/maintenance", WINDOW),
    Endpoint("POST", "/api/v1/maintenance/{window}/cancel"),
    Endpoint("GET", "/admin/incidents"),
    Endpoint("POST", "/admin/incidents", {"title": "t", "impact": "minor", "message": "m",
                                          "status": "investigating"}),
    Endpoint("GET", "/admin/incidents/{incident}"),
    Endpoint("POST", "/admin/incidents/{incident}/updates",
             {"status": "identified", "body": "b"}),
    Endpoint("POST", "/admin/incidents/{incident}/acknowledge"),
    Endpoint("POST", "/admin/incidents/{incident}/resolve", {"body": "done"}),
    Endpoint("POST", "/admin/incidents/{incident}/take-over", {"title": "t", "message": "m"}),
    Endpoint("GET", "/admin/maintenance"),
    Endpoint("POST", "/admin/maintenance", {**WINDOW, "starts_at": "2026-10-09T12:00",
                                            "ends_at": "2026-10-09T13:00"}),
    Endpoint("POST", "/admin/maintenance/{window}/cancel"),
)


def targets(engine: Engine) -> dict[str, int]:
    """A fresh open automatic incident and a future window for each case."""
    with session_scope(make_session_factory(engine)) as session:
        incident = Incident(title="auth unavailable", impact="critical", status="investigating",
                            origin="automatic", root_component="auth", opened_at=START,
                            updated_at=START, components=[IncidentComponent(
                                component="auth", region=EU, state="major_outage",
                                first_affected_at=START)])
        window = Maintenance(title="w", starts_at=FUTURE, ends_at=FUTURE + timedelta(hours=1),
                             created_at=START, scopes=[MaintenanceScope()])
        session.add_all([incident, window])
        session.flush()
        return {"incident": incident.id, "window": window.id}


def call(client: FlaskClient, endpoint: Endpoint, ids: dict[str, int],
         token: str | None) -> Any:
    path = endpoint.path.format(**ids)
    if endpoint.is_api:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if endpoint.body is None:
            return client.open(path, method=endpoint.method, headers=headers)
        return client.open(path, method=endpoint.method, headers=headers, json=endpoint.body)
    if endpoint.method == "GET":
        return client.get(path)
    form = {**(endpoint.body or {}), "csrf_token": csrf_token_of(client)}
    return client.post(path, data=form)


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
def test_each_role_can_do_exactly_what_it_should(
        api: FlaskClient, app_engine: Engine, make_user: User, endpoint: Endpoint,
        persona: str) -> None:
    ids = targets(app_engine)
    token = None
    if persona != "anonymous":
        user_id, _, token = make_user(Role(persona))
        if not endpoint.is_api:
            log_in(api, user_id)
    response = call(api, endpoint, ids, token)
    if persona in ALLOWED:
        assert response.status_code in (200, 201, 303), response.get_data(as_text=True)
        assert "/login" not in response.headers.get("Location", "")
    elif persona == "anonymous" and not endpoint.is_api and endpoint.method == "GET":
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")
    else:
        assert response.status_code == (401 if persona == "anonymous" else 403)


@pytest.mark.parametrize("path", ["/api/v1/incidents", "/api/v1/maintenance"])
def test_reads_are_public(api: FlaskClient, path: str) -> None:
    assert api.get(path).status_code == 200
