"""HTTP API of the status package under /api/v1: incidents and maintenance windows.

Reads are public; writes need a support engineer's (or an admin's) token. Views are thin:
parse, call `status.actions`, commit, answer.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify

from core.models import Role
from core.openapi import operation
from core.schemas import request_body, request_query
from core.web import (
    bearer_principal,
    current_runtime,
    json_body,
    request_session,
    require_role,
)
from status import actions, store
from status import schemas as api
from status.declared import parse_declaration, parse_take_over, parse_update
from status.maintenance import parse_window, window_json
from status.models import Incident

bp = Blueprint("status_api", __name__)

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


def _author() -> int:
    return int(g.principal.user_id)


@bp.get("/api/v1/incidents")
@operation(public=True, query=api.IncidentListQuery, responses={200: api.Incidents},
           tags=("incidents",))
def list_incidents() -> Any:
    """Incidents, newest first (`state`: open, resolved or all)."""
    query = request_query(api.IncidentListQuery)
    rows = store.list_incidents(request_session(), state=query.state, limit=query.limit,
                                offset=query.offset)
    return jsonify({"incidents": [incident_json(row, with_updates=False) for row in rows]})


@bp.get("/api/v1/incidents/<int:incident_id>")
@operation(public=True, tags=("incidents",), responses={200: api.IncidentOut})
def get_incident(incident_id: int) -> Any:
    """One incident with its updates and timeline figures; a support engineer's or an
    admin's token also shows the internal (on-call) notes."""
    caller = bearer_principal()
    on_call = caller is not None and caller.role in (Role.SUPPORT, Role.ADMIN)
    return jsonify(incident_json(store.get_incident(request_session(), incident_id),
                                 internal=on_call))


@bp.post("/api/v1/incidents")
@operation(body=api.DeclarationIn, tags=("incidents",), responses={201: api.IncidentOut})
@require_role(Role.SUPPORT)
def declare_incident() -> Any:
    """Declare an incident (support engineers); on-call is paged."""
    runtime = current_runtime()
    request_body(api.DeclarationIn)
    declaration = parse_declaration(json_body(), runtime.settings.regions)
    session = request_session()
    incident = actions.declare(session, declaration, _author(), runtime.clock.now(),
                               runtime.settings)
    session.commit()
    return jsonify(incident_json(incident)), 201


@bp.post("/api/v1/incidents/<int:incident_id>/updates")
@operation(body=api.UpdateIn, tags=("incidents",), responses={201: api.IncidentOut})
@require_role(Role.SUPPORT)
def post_update(incident_id: int) -> Any:
    """Post a public update; status `resolved` resolves the incident."""
    runtime = current_runtime()
    request_body(api.UpdateIn)
    update = parse_update(json_body(), runtime.settings.regions)
    session = request_session()
    incident = actions.post_update(session, incident_id, update, _author(),
                                   runtime.clock.now(), runtime.settings)
    session.commit()
    return jsonify(incident_json(incident)), 201


@bp.post("/api/v1/incidents/<int:incident_id>/acknowledge")
@operation(tags=("incidents",), responses={200: api.IncidentOut})
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
@operation(body=api.ResolveIn, tags=("incidents",), responses={200: api.IncidentOut})
@require_role(Role.SUPPORT)
def resolve_incident(incident_id: int) -> Any:
    """Resolve an incident with an optional closing text."""
    runtime = current_runtime()
    text = request_body(api.ResolveIn, optional=True).body
    session = request_session()
    incident = actions.resolve(session, incident_id, text, _author(),
                               runtime.clock.now(), runtime.settings)
    session.commit()
    return jsonify(incident_json(incident))


@bp.post("/api/v1/incidents/<int:incident_id>/take-over")
@operation(body=api.TakeOverIn, tags=("incidents",), responses={200: api.IncidentOut})
@require_role(Role.SUPPORT)
def take_over_incident(incident_id: int) -> Any:
    """Take over an automatic incident: rename it and write its public text."""
    request_body(api.TakeOverIn)
    take = parse_take_over(json_body())
    session = request_session()
    incident = actions.take_over(session, incident_id, take, _author(),
                                 current_runtime().clock.now(), current_runtime().settings)
    session.commit()
    return jsonify(incident_json(incident))


@bp.get("/api/v1/maintenance")
@operation(public=True, tags=("maintenance",), responses={200: api.Windows})
def list_maintenance() -> Any:
    """Maintenance windows that are not over yet, soonest first."""
    now = current_runtime().clock.now()
    windows = store.upcoming_windows(request_session(), now)
    return jsonify({"maintenance": [window_json(w, now) for w in windows]})


@bp.post("/api/v1/maintenance")
@operation(body=api.WindowIn, tags=("maintenance",), responses={201: api.WindowOut})
@require_role(Role.SUPPORT)
def schedule_maintenance() -> Any:
    """Schedule a maintenance window (empty components or regions mean all of them).

    A start less than 7 days ahead needs `short_notice_reason`; such a window is not
    excluded from the SLA. A window over minutes already booked as downtime is refused."""
    runtime = current_runtime()
    now = runtime.clock.now()
    request_body(api.WindowIn)
    window = parse_window(json_body(), runtime.settings.regions, now)
    session = request_session()
    scheduled = actions.schedule_maintenance(session, window, _author(), now)
    session.commit()
    return jsonify(window_json(scheduled, now)), 201


@bp.post("/api/v1/maintenance/<int:window_id>/cancel")
@operation(tags=("maintenance",), responses={200: api.WindowOut})
@require_role(Role.SUPPORT)
def cancel_maintenance(window_id: int) -> Any:
    """Cancel a maintenance window; a running one ends now."""
    now = current_runtime().clock.now()
    session = request_session()
    window = actions.cancel_maintenance(session, window_id, now)
    session.commit()
    return jsonify(window_json(window, now))
