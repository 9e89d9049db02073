"""The incidents and maintenance API: public reads, support writes, problems for bad input
with nothing stored."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select

from alerts.models import OutboxRow
from core.db import make_session_factory, session_scope
from core.models import Role
from status.models import Incident, IncidentComponent, Maintenance
from tests.status.conftest import EU, START, TIER1_KEY, TIER2_KEY, US
from tests.support.clock import ManualClock

User = Callable[[Role], tuple[int, str, str]]
DECLARATION: dict[str, Any] = {
    "title": "Checkout fails <script>alert(1)</script>", "impact": "major",
    "message": "Orders cannot be placed & we're on it.",
    "components": [{"component": "orders", "region": EU, "state": "major_outage"}]}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def support(make_user: User) -> dict[str, str]:
    return bearer(make_user(Role.SUPPORT)[2])


def rows(engine: Engine, model: type[Any]) -> int:
    with session_scope(make_session_factory(engine)) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def pages_of(engine: Engine, incident_id: int) -> list[tuple[str, str]]:
    with session_scope(make_session_factory(engine)) as session:
        return [(row.event_type, row.recipient) for row in session.scalars(
            select(OutboxRow).where(OutboxRow.ordering_key == f"incident-{incident_id}")
            .order_by(OutboxRow.id))]


def declare(api: FlaskClient, headers: dict[str, str], **change: Any) -> dict[str, Any]:
    response = api.post("/api/v1/incidents", json={**DECLARATION, **change}, headers=headers)
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def test_support_declares_and_anyone_reads(api: FlaskClient, support: dict[str, str],
                                          app_engine: Engine) -> None:
    created = declare(api, support)
    assert created["title"] == DECLARATION["title"]
    assert created["public_message"] == DECLARATION["message"]
    assert (created["origin"], created["status"]) == ("declared", "investigating")
    assert created["components"][0]["state"] == "major_outage"
    assert created["timeline"]["opened_at"] == START.isoformat()
    assert pages_of(app_engine, created["id"]) == [("page.trigger", TIER1_KEY)]
    one = api.get(f"/api/v1/incidents/{created['id']}").get_json()
    assert one["updates"][0]["body"] == DECLARATION["message"]
    listed = api.get("/api/v1/incidents?state=open").get_json()["incidents"]
    assert created["id"] in [i["id"] for i in listed]
    assert "updates" not in listed[0]


def test_a_tier_two_only_incident_pages_the_tier_two_key(api: FlaskClient,
                                                         support: dict[str, str],
                                                         app_engine: Engine) -> None:
    created = declare(api, support, components=[
        {"component": "import", "region": US, "state": "partial_outage"}])
    assert pages_of(app_engine, created["id"]) == [("page.trigger", TIER2_KEY)]


@pytest.mark.parametrize(("send", "status", "code"), [
    ({"data": "title=x", "content_type": "application/x-www-form-urlencoded"}, 415,
     "unsupported_media_type"),
    ({"data": "{not json", "content_type": "application/json"}, 400, "malformed_json"),
    ({"json": ["a list"]}, 400, "malformed_json"),
    ({"json": {**DECLARATION, "title": ""}}, 400, "invalid_incident"),
    ({"json": {**DECLARATION, "impact": "total"}}, 400, "invalid_incident"),
    ({"json": {k: v for k, v in DECLARATION.items() if k != "message"}}, 400,
     "invalid_incident"),
    ({"json": {**DECLARATION, "components": [{"component": "orders", "region": "moon"}]}},
     400, "invalid_incident"),
])
def test_bad_declarations_are_refused_and_nothing_is_stored(
        api: FlaskClient, support: dict[str, str], app_engine: Engine, send: dict[str, Any],
        status: int, code: str) -> None:
    before = (rows(app_engine, Incident), rows(app_engine, IncidentComponent),
              rows(app_engine, OutboxRow))
    response = api.post("/api/v1/incidents", headers=support, **send)
    assert response.status_code == status
    assert response.get_json()["error"] == code
    assert response.get_json()["detail"]
    assert (rows(app_engine, Incident), rows(app_engine, IncidentComponent),
            rows(app_engine, OutboxRow)) == before


def test_updates_acknowledge_and_resolve(api: FlaskClient, support: dict[str, str],
                                         app_engine: Engine, clock: ManualClock) -> None:
    incident_id = declare(api, support)["id"]
    clock.advance(timedelta(minutes=3))
    acked = api.post(f"/api/v1/incidents/{incident_id}/acknowledge", headers=support)
    assert acked.status_code == 200
    assert acked.get_json()["timeline"]["time_to_acknowledge_s"] == 180.0
    again = api.post(f"/api/v1/incidents/{incident_id}/acknowledge", headers=support)
    assert (again.status_code, again.get_json()["error"]) == (409, "illegal_transition")
    update = api.post(f"/api/v1/incidents/{incident_id}/updates", headers=support, json={
        "status": "identified", "body": "A bad deploy.",
        "components": [{"component": "orders", "region": EU, "state": "major_outage"},
                       {"component": "carts", "region": EU, "state": "partial_outage"}]})
    assert update.status_code == 201
    assert [u["status"] for u in update.get_json()["updates"]] == ["investigating",
                                                                  "identified"]
    clock.advance(timedelta(minutes=10))
    resolved = api.post(f"/api/v1/incidents/{incident_id}/resolve", headers=support)
    assert resolved.status_code == 200
    assert resolved.get_json()["timeline"]["time_to_resolve_s"] == 780.0
    assert api.post(f"/api/v1/incidents/{incident_id}/resolve",
                    headers=support).status_code == 409
    late = api.post(f"/api/v1/incidents/{incident_id}/updates", headers=support,
                    json={"status": "monitoring", "body": "late"})
    assert late.status_code == 409
    # More components on the same routing key update the incident; PagerDuty's alert stays.
    assert [e for e, _ in pages_of(app_engine, incident_id)] == [
        "page.trigger", "page.acknowledge", "page.resolve"]


def test_an_update_with_status_resolved_resolves(api: FlaskClient,
                                                 support: dict[str, str]) -> None:
    incident_id = declare(api, support)["id"]
    done = api.post(f"/api/v1/incidents/{incident_id}/updates", headers=support,
                    json={"status": "resolved", "body": "Fixed."})
    assert done.status_code == 201
    assert done.get_json()["status"] == "resolved"
    assert done.get_json()["timeline"]["resolved_at"] == START.isoformat()


def automatic_incident(engine: Engine) -> int:
    with session_scope(make_session_factory(engine)) as session:
        incident = Incident(title="auth unavailable in europe-west1.gcp", impact="critical",
                            status="investigating", origin="automatic",
                            root_component="auth", opened_at=START, updated_at=START,
                            components=[IncidentComponent(
                                component="auth", region=EU, state="major_outage",
                                first_affected_at=START)])
        session.add(incident)
        session.flush()
        return incident.id


def test_support_takes_over_an_automatic_incident(api: FlaskClient, support: dict[str, str],
                                                  app_engine: Engine) -> None:
    incident_id = automatic_incident(app_engine)
    taken = api.post(f"/api/v1/incidents/{incident_id}/take-over", headers=support,
                     json={"title": "Login is down", "message": "We are <i>on</i> it."})
    assert taken.status_code == 200
    assert (taken.get_json()["title"], taken.get_json()["taken_over"]) == ("Login is down",
                                                                           True)
    refused = api.post(f"/api/v1/incidents/{incident_id}/updates", headers=support,
                       json={"status": "identified", "body": "x", "impact": "minor"})
    assert refused.status_code == 409
    declared_id = declare(api, support)["id"]
    assert api.post(f"/api/v1/incidents/{declared_id}/take-over", headers=support,
                    json={"title": "x", "message": "y"}).status_code == 409


def test_unknown_incidents_are_404(api: FlaskClient, support: dict[str, str]) -> None:
    assert api.get("/api/v1/incidents/999999").status_code == 404
    missing = api.post("/api/v1/incidents/999999/acknowledge", headers=support)
    assert (missing.status_code, missing.get_json()["error"]) == (404, "not_found")
    assert api.get("/api/v1/incidents?limit=0").status_code == 400
    assert api.get("/api/v1/incidents?state=maybe").status_code == 400


def test_maintenance_is_scheduled_listed_and_cancelled(api: FlaskClient,
                                                       support: dict[str, str],
                                                       app_engine: Engine) -> None:
    body = {"title": "Database upgrade", "message": "Orders may be slow.",
            "starts_at": (START + timedelta(days=8)).isoformat(),
            "ends_at": (START + timedelta(days=8, hours=2)).isoformat(),
            "components": ["orders"], "regions": [EU]}
    created = api.post("/api/v1/maintenance", headers=support, json=body)
    assert created.status_code == 201
    window = created.get_json()
    assert (window["status"], window["components"], window["regions"]) == (
        "scheduled", ["orders"], [EU])
    listed = api.get("/api/v1/maintenance").get_json()["maintenance"]
    assert window["id"] in [w["id"] for w in listed]
    cancel = f"/api/v1/maintenance/{window['id']}/cancel"
    assert api.post(cancel, headers=support).get_json()["status"] == "cancelled"
    assert api.post(cancel, headers=support).status_code == 409
    before = rows(app_engine, Maintenance)
    bad = api.post("/api/v1/maintenance", headers=support,
                   json={**body, "ends_at": body["starts_at"]})
    assert (bad.status_code, bad.get_json()["error"]) == (400, "invalid_maintenance")
    assert rows(app_engine, Maintenance) == before


def test_the_openapi_document_describes_the_endpoints(api: FlaskClient) -> None:
    paths = api.get("/api/v1/openapi.json").get_json()["paths"]
    declare_op = paths["/api/v1/incidents"]["post"]
    assert declare_op["security"] == [{"bearer": []}]
    assert "impact" in declare_op["requestBody"]["content"]["application/json"]["schema"][
        "properties"]
    assert "security" not in paths["/api/v1/incidents"]["get"]
    assert "security" not in paths["/api/v1/incidents/{incident_id}"]["get"]
    assert {"/api/v1/incidents/{incident_id}/acknowledge", "/api/v1/maintenance",
            "/api/v1/maintenance/{window_id}/cancel"} <= set(paths)


def test_internal_notes_reach_support_and_never_the_public(
        api: FlaskClient, support: dict[str, str], app_engine: Engine) -> None:
    """An on-call note (a burn rate, a PagerDuty acknowledgement naming a person) is
    internal: the public API never shows it; a support engineer's token shows it marked."""
    from core.config import Settings
    from status import store

    created = declare(api, support)
    with session_scope(make_session_factory(app_engine)) as session:
        incident = session.get(Incident, created["id"])
        assert incident is not None
        store.add_update(session, incident, "investigating",
                         "Acknowledged in PagerDuty by Ada Lovelace", START, Settings(),
                         notify=False, internal=True)
    public = api.get(f"/api/v1/incidents/{created['id']}").get_json()["updates"]
    assert [u["body"] for u in public] == [DECLARATION["message"]]
    assert all("internal" not in u for u in public)
    on_call = api.get(f"/api/v1/incidents/{created['id']}", headers=support).get_json()
    notes = [u for u in on_call["updates"] if u["internal"]]
    assert [u["body"] for u in notes] == ["Acknowledged in PagerDuty by Ada Lovelace"]
    anonymous_with_a_bad_token = api.get(f"/api/v1/incidents/{created['id']}",
                                         headers=bearer("bw_not_a_token")).get_json()
    assert len(anonymous_with_a_bad_token["updates"]) == 1
