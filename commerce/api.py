"""HTTP edge of the commerce set inside Bellwether's web app: regions and the fault injector."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from commerce import schemas as api
from commerce import store
from commerce.catalog import SERVICES, ZONES
from commerce.faults import parse_fault
from commerce.fleet import Fleet
from core.db import read_scope
from core.errors import NotFound
from core.models import Role
from core.openapi import operation
from core.schemas import request_body, request_query
from core.web import current_runtime, request_session, require_role

bp = Blueprint("commerce_api", __name__)

def _fleet() -> Fleet | None:
    fleet = current_runtime().parts.get("fleet")
    return fleet if isinstance(fleet, Fleet) else None


def _apply_now() -> None:
    """Make a fault change take effect at once in this process, after the commit and in a
    read scope (no write lock); a fleet in another process sees it within
    commerce.fleet.FAULT_CHECK_INTERVAL_S."""
    fleet = _fleet()
    if fleet is not None:
        fleet.faults_changed()


def _region_json(region: str, router_url: str | None, zones: dict[str, str],
                 healthy: frozenset[str] | None) -> dict[str, Any]:
    return {
        "name": region,
        "router_url": router_url,
        "zones": [{"name": z, "url": zones.get(z),
                   "healthy": None if healthy is None else z in healthy} for z in ZONES],
        "services": [{"name": s.name, "tier": s.tier, "depends_on": list(s.depends_on)}
                     for s in SERVICES.values()],
    }


@bp.get("/api/v1/regions")
@operation(public=True, responses={200: api.Regions}, tags=("commerce",))
def regions() -> Any:
    """Every region with the endpoints in use (from this process's fleet, or the database)."""
    fleet = _fleet()
    if fleet is not None:
        body = [_region_json(e.region, e.router_url, e.zone_urls,
                             fleet.region_routers[e.region].healthy) for e in fleet.endpoints()]
    else:
        with read_scope(current_runtime().session_factory) as session:
            rows = store.list_endpoints(session)
        body = []
        for region in current_runtime().settings.regions:
            mine = [row for row in rows if row.region == region]
            router = next((row.url for row in mine if row.zone is None), None)
            body.append(_region_json(region, router, {r.zone: r.url for r in mine if r.zone}, None))
    settings = current_runtime().settings
    return jsonify({"regions": body, "web_url": settings.effective_public_url})


@bp.post("/api/v1/faults")
@operation(body=api.FaultIn, responses={201: api.FaultOut}, tags=("faults",))
@require_role()
def inject_fault() -> Any:
    """Inject a fault into the commerce set (admin)."""
    runtime = current_runtime()
    body = request_body(api.FaultIn).model_dump(mode="json", exclude_none=True)
    spec = parse_fault(body, runtime.settings.regions)
    session = request_session()
    fault = store.add_fault(session, spec, runtime.clock.now())
    session.commit()
    _apply_now()
    return jsonify(fault.as_json()), 201


@bp.get("/api/v1/faults")
@operation(responses={200: api.Faults}, tags=("faults",))
@require_role()
def list_faults() -> Any:
    """The active faults (admin)."""
    runtime = current_runtime()
    with read_scope(runtime.session_factory) as session:
        faults = store.active_faults(session, runtime.clock.now())
    return jsonify({"faults": [fault.as_json() for fault in faults]})


@bp.delete("/api/v1/faults/<int:fault_id>")
@operation(responses={200: api.Cleared}, tags=("faults",))
@require_role()
def clear_fault(fault_id: int) -> Any:
    """Clear one fault (admin)."""
    session = request_session()
    store.clear_fault(session, fault_id, current_runtime().clock.now())
    session.commit()
    _apply_now()
    return jsonify({"cleared": [fault_id]})


@bp.delete("/api/v1/faults")
@operation(responses={200: api.ClearedCount}, tags=("faults",))
@require_role()
def clear_faults() -> Any:
    """Clear every active fault (admin)."""
    session = request_session()
    count = store.clear_all_faults(session, current_runtime().clock.now())
    session.commit()
    _apply_now()
    return jsonify({"cleared_count": count})


@bp.post("/api/v1/commerce/projects")
@operation(body=api.ProjectIn, responses={201: api.ProjectMade}, tags=("commerce",))
@require_role()
def create_project() -> Any:
    """Create a commerce project (a tenant) with client credentials (admin)."""
    body = request_body(api.ProjectIn)
    runtime = current_runtime()
    region, key = body.region.strip(), body.key
    if region not in runtime.settings.regions:
        raise NotFound(f"unknown region {region!r}")
    session = request_session()
    project, client_id, secret = store.create_project(session, region, key, runtime.clock.now(),
                                                      name=body.name or key)
    session.commit()
    return jsonify({"region": region, "key": project.key, "client_id": client_id,
                    "client_secret": secret}), 201


@bp.get("/api/v1/commerce/probe-credentials")
@operation(query=api.CredentialsQuery, responses={200: api.ProbeCredentials},
           tags=("commerce",))
@require_role(Role.AGENT)
def probe_credentials() -> Any:
    """The probe project's credentials in a region (admin, or a probe agent)."""
    runtime = current_runtime()
    region = request_query(api.CredentialsQuery).region
    if region not in runtime.settings.regions:
        raise NotFound(f"unknown region {region!r}")
    session = request_session()
    client_id, secret = store.probe_credentials(session, region, runtime.clock.now())
    session.commit()
    return jsonify({"region": region, "project_key": store.PROBE_PROJECT, "client_id": client_id,
                    "client_secret": secret})
