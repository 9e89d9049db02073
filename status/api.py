"""HTTP API of the status package under /api/v1: incidents and maintenance windows.

Reads are public; writes need a support engineer's (or an admin's) token. Views are thin:
parse, call `status.actions`, commit, answer.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request

from core.errors import BellwetherError
from core.models import Role
from core.openapi import operation
from core.web import (
    bearer_principal,
    current_runtime,
    json_body,
    request_session,
    require_role,
)
from status import actions, store
from status.declared import AFFECTED_STATES, parse_declaration, parse_take_over, parse_update
from status.incidents import Impact, IncidentStatus
from status.maintenance import parse_window, window_json
from status.models import Incident

bp = Blueprint("status_api", __name__)

COMPONENT = {"type": "object", "required": ["component", "region"],
             "properties": {"component": {"type": "string"}, "region": {"type": "string"},
                            "state": {"type": "string", "enum": list(AFFECTED_STATES)}}}
DECLARATION = {"type": "object", "required": ["title", "impact", "message"],
               "properties": {"title": {"type": "string", "maxLength": 200},
                              "impact": {"type": "string", "enum": list(Impact)},
                              "message": {"type": "string"},
                              "status": {"type": "string",
                                         "enum": [s for s in IncidentStatus if s != "resolved"]},
                              "components": {"type": "array", "items": COMPONENT}}}
UPDATE = {"type": "object", "required": ["status", "body"],
          "properties": {"status": {"type": "string", "enum": list(IncidentStatus)},
                         "body": {"type": "string"},
                         "impact": {"type": "string", "enum": list(Impact)},
                         "components": {"type": "array", "items": COMPONENT}}}
TAKE_OVER = {"type": "object", "required": ["title", "message"],
             "properties": {"title": {"type": "string", "maxLength": 200},
                            "message": {"type": "string"}}}
RESOLVE = {"type": "object", "properties": {"body": {"type": "string"}}}
WINDOW = {"type": "object", "required": ["title", "starts_at", "ends_at"],
          "properties": {"title": {"type": "string"}, "message": {"type": "string"},
                         "starts_at": {"type": "string", "format": "date-time"},
                         "ends_at": {"type": "string", "format": "date-time"},
                         "components": {"type": "array", "items": {"type": "string"}},
                         "regions": {"type": "array", "items": {"type": "string"}},
                         "short_notice_reason": {"type": "string", "maxLength": 2000}}}
INCIDENT = {"type": "object", "required": ["id", "title", "impact", "status", "timeline"]}
LIST_QUERY = {"state": {"type": "string", "enum": ["open", "resolved", "all"]},
              "limit": {"type": "integer", "minimum": 1, "maximum": 200},
              "offset": {"type": "integer", "minimum": 0}}


def incident_json(incident: Incident, *, with_updates: bool = True,
                  internal: bool = False) -> dict[str, Any]:
    """An incident as the API shows it: public fields, components, timeline figures.

    Internal updates (on-call notes: burn rates, PagerDuty acknowledgements naming people)
    are listed, marked `internal`, only when `internal` is set (a support engineer or an
    admin asked); everyone else sees the public story alone.
    """
    body: dict[str, Any] = {
        "id": incident.id, "title": incident.title, "impact": incident.impact,
        "status": incident.status, "origin": incident.origin,
        "root_component": incident.root_component, "taken_over": incident.taken_over,
        "public_message": incident.public_message,
        "updated_at": incident.updated_at.isoformat(),
        "components": [{"component": c.component, "region": c.region, "state": c.state,
                        "first_affected_at": c.first_affected_at.isoformat(),
                        "recovered_at": c.recovered_at.isoformat() if c.recovered_at else None}
                       for c in incident.components],
        "timeline": store.timeline_of(incident).to_json(),
    }
    if with_updates:
        body["updates"] = [{"id": u.id, "status": u.status, "body": u.body,
                            "automatic": u.automatic, "created_at": u.created_at.isoformat(),
                            **({"internal": u.internal} if internal else {})}
                           for u in incident.updates if internal or not u.internal]
    return body


def _whole_number(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name, str(default))
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BellwetherError(f"'{name}' must be a whole number from {low} to {high}")
    return int(raw)


def _optional_body() -> dict[str, Any]:
    return json_body() if request.get_data() else {}


def _author() -> int:
    return int(g.principal.user_id)


@bp.get("/api/v1/incidents")
@operation(public=True, query=LIST_QUERY, tags=("incidents",),
           responses={200: {"type": "object", "properties": {
               "incidents": {"type": "array", "items": INCIDENT}}}})
def list_incidents() -> Any:
    """Incidents, newest first (`state`: open, resolved or all)."""
    state = request.args.get("state", "all")
    if state not in ("open", "resolved", "all"):
        raise BellwetherError("'state' must be open, resolved or all")
    rows = store.list_incidents(request_session(), state=state,
                                limit=_whole_number("limit", 50, 1, 200),
                                offset=_whole_number("offset", 0, 0, 10**9))
    return jsonify({"incidents": [incident_json(row, with_updates=False) for row in rows]})


@bp.get("/api/v1/incidents/<int:incident_id>")
@operation(public=True, tags=("incidents",), responses={200: INCIDENT})
def get_incident(incident_id: int) -> Any:
    """One incident with its updates and timeline figures; a support engineer's or an
    admin's token also shows the internal (on-call) notes."""
    caller = bearer_principal()
    on_call = caller is not None and caller.role in (Role.SUPPORT, Role.ADMIN)
    return jsonify(incident_json(store.get_incident(request_session(), incident_id),
                                 internal=on_call))


@bp.post("/api/v1/incidents")
@operation(body=DECLARATION, tags=("incidents",), responses={201: INCIDENT})
@require_role(Role.SUPPORT)
def declare_incident() -> Any:
    """Declare an incident (support engineers); on-call is paged."""
    runtime = current_runtime()
    declaration = parse_declaration(json_body(), runtime.settings.regions)
    session = request_session()
    incident = actions.declare(session, declaration, _author(), runtime.clock.now(),
                               runtime.settings)
    session.commit()
    return jsonify(incident_json(incident)), 201


@bp.post("/api/v1/incidents/<int:incident_id>/updates")
@operation(body=UPDATE, tags=("incidents",), responses={201: INCIDENT})
@require_role(Role.SUPPORT)
def post_update(incident_id: int) -> Any:
    """Post a public update; status `resolved` resolves the incident."""
    runtime = current_runtime()
    update = parse_update(json_body(), runtime.settings.regions)
    session = request_session()
    incident = actions.post_update(session, incident_id, update, _author(),
                                   runtime.clock.now(), runtime.settings)
    session.commit()
    return jsonify(incident_json(incident)), 201


@bp.post("/api/v1/incidents/<int:incident_id>/acknowledge")
@operation(tags=("incidents",), responses={200: INCIDENT})
@require_role(Role.SUPPORT)
def acknowledge_incident(incident_id: int) -> Any:
    """Acknowledge an incident; PagerDuty hears it."""
    runtime = current_runtime()
    session = request_session()
    incident = actions.acknowledge(session, incident_id, _author(), runtime.clock.now(),
                                   runtime.settings)
    session.commit()
    return jsonify(incident_json(incident))


@bp.post("/api/v1/incidents/<int:incident_id>/resolve")
@operation(body=RESOLVE, tags=("incidents",), responses={200: INCIDENT})
@require_role(Role.SUPPORT)
def resolve_incident(incident_id: int) -> Any:
    """Resolve an incident with an optional closing text."""
    runtime = current_runtime()
    body = _optional_body()
    text = body.get("body", "")
    if not isinstance(text, str) or len(text) > 10_000:
        raise BellwetherError("'body' must be a string of at most 10000 characters")
    session = request_session()
    incident = actions.resolve(session, incident_id, text.strip(), _author(),
                               runtime.clock.now(), runtime.settings)
    session.commit()
    return jsonify(incident_json(incident))


@bp.post("/api/v1/incidents/<int:incident_id>/take-over")
@operation(body=TAKE_OVER, tags=("incidents",), responses={200: INCIDENT})
@require_role(Role.SUPPORT)
def take_over_incident(incident_id: int) -> Any:
    """Take over an automatic incident: rename it and write its public text."""
    take = parse_take_over(json_body())
    session = request_session()
    incident = actions.take_over(session, incident_id, take, _author(),
                                 current_runtime().clock.now(), current_runtime().settings)
    session.commit()
    return jsonify(incident_json(incident))


@bp.get("/api/v1/maintenance")
@operation(public=True, tags=("maintenance",),
           responses={200: {"type": "object", "properties": {
               "maintenance": {"type": "array", "items": {"type": "object"}}}}})
def list_maintenance() -> Any:
    """Maintenance windows that are not over yet, soonest first."""
    now = current_runtime().clock.now()
    windows = store.upcoming_windows(request_session(), now)
    return jsonify({"maintenance": [window_json(w, now) for w in windows]})


@bp.post("/api/v1/maintenance")
@operation(body=WINDOW, tags=("maintenance",), responses={201: {"type": "object"}})
@require_role(Role.SUPPORT)
def schedule_maintenance() -> Any:
    """Schedule a maintenance window (empty components or regions mean all of them).

    A start less than 7 days ahead needs `short_notice_reason`; such a window is not
    excluded from the SLA. A window over minutes already booked as downtime is refused."""
    runtime = current_runtime()
    now = runtime.clock.now()
    window = parse_window(json_body(), runtime.settings.regions, now)
    session = request_session()
    scheduled = actions.schedule_maintenance(session, window, _author(), now)
    session.commit()
    return jsonify(window_json(scheduled, now)), 201


@bp.post("/api/v1/maintenance/<int:window_id>/cancel")
@operation(tags=("maintenance",), responses={200: {"type": "object"}})
@require_role(Role.SUPPORT)
def cancel_maintenance(window_id: int) -> Any:
    """Cancel a maintenance window; a running one ends now."""
    now = current_runtime().clock.now()
    session = request_session()
    window = actions.cancel_maintenance(session, window_id, now)
    session.commit()
    return jsonify(window_json(window, now))
