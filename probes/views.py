"""HTTP edge of the probes package: ingest from agents, the probe admin API, live state,
and `/metrics`. Views are thin: parse, call the store, answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from alerts.outbox import enqueue
from core.auth import Principal, require_locations
from core.errors import BellwetherError, NotFound
from core.metrics import metrics_response
from core.models import Role
from core.openapi import operation
from core.web import current_runtime, json_body, request_session, require_role
from probes import store
from probes.checks import InvalidCheck, check_from_json
from probes.heartbeats import Heartbeat, agent_status, heartbeat_from_json, is_stopped
from probes.icmp_check import icmp_refusal
from probes.metrics import ProbeMetrics
from probes.models import Agent
from probes.silence import AgentSeen, stop_notices
from probes.specs import ProbeKind, ProbeSpec, parse_probe, probe_to_json
from probes.tls import expiring
from probes.tls_jobs import newest_certificates
from sla.period import minute_of

bp = Blueprint("probes", __name__)
MAX_BATCH = 5_000
CHECK_SCHEMA = {"type": "object", "required": ["id", "probe", "component", "region",
                                               "location", "intended_at", "started_at", "ok",
                                               "latency_ms"]}
PROBE_SCHEMA = {"type": "object", "required": ["name", "component", "region"],
                "properties": {"name": {"type": "string"}, "component": {"type": "string"},
                               "region": {"type": "string"},
                               "kind": {"type": "string",
                                        "enum": ["http", "tcp", "tls", "dns", "icmp"]},
                               "interval_s": {"type": "integer", "minimum": 1},
                               "steps": {"type": "array", "items": {"type": "object"}},
                               "target": {"type": "string"},
                               "record": {"type": "string"},
                               "answers": {"type": "array", "items": {"type": "string"}},
                               "resolver": {"type": "string"},
                               "count": {"type": "integer", "minimum": 1, "maximum": 20},
                               "assert": {"type": "array", "items": {"type": "string"}}}}
HEARTBEAT_SCHEMA = {"type": "object", "required": ["name", "location"],
                    "properties": {"name": {"type": "string"}, "location": {"type": "string"},
                                   "version": {"type": "string"},
                                   "stopping": {"type": "boolean"}}}


def _metrics() -> ProbeMetrics:
    metrics = current_runtime().parts.get("metrics")
    assert isinstance(metrics, ProbeMetrics)
    return metrics


def _reload_probes() -> None:
    service = current_runtime().parts.get("probes")
    if service is not None:
        service.reload()


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus exposition of Bellwether's own metrics (OpenMetrics when asked for)."""
    return metrics_response(_metrics().registry)


def _principal() -> Principal:
    principal = g.principal
    assert isinstance(principal, Principal)
    return principal


@bp.post("/api/v1/ingest")
@operation(body={"type": "object", "required": ["checks"],
                 "properties": {"checks": {"type": "array", "items": CHECK_SCHEMA,
                                           "maxItems": MAX_BATCH},
                                "agent": HEARTBEAT_SCHEMA}},
           responses={200: {"type": "object"}}, tags=("probes",))
@require_role(Role.AGENT)
def ingest() -> Any:
    """Store a batch of checks from a remote location; a batch sent twice is stored once.

    An agent token may send checks only for the locations it was issued for: a batch with
    one check for another location is refused whole (403). The batch's `agent` (who sent
    it) counts as a heartbeat.
    """
    body = json_body()
    raw = body.get("checks")
    if not isinstance(raw, list) or len(raw) > MAX_BATCH:
        raise BellwetherError(f"'checks' must be a list of at most {MAX_BATCH} checks")
    checks = []
    for index, item in enumerate(raw):
        try:
            checks.append(check_from_json(item))
        except InvalidCheck as exc:
            _metrics().ingested.labels("rejected").inc(len(raw))
            raise InvalidCheck(f"check {index}: {exc.detail}") from None
    agent = heartbeat_from_json(body["agent"]) if "agent" in body else None
    locations = {check.location for check in checks} | ({agent.location} if agent else set())
    try:
        require_locations(_principal(), locations)
    except BellwetherError:
        _metrics().ingested.labels("refused").inc(len(raw))
        raise
    runtime = current_runtime()
    session = request_session()
    stored = store.save_checks(session, checks, runtime.clock.now())
    if agent is not None:
        store.record_heartbeat(session, agent, request.remote_addr or "", runtime.clock.now())
    session.commit()
    _metrics().ingested.labels("stored").inc(stored)
    _metrics().ingested.labels("duplicate").inc(len(checks) - stored)
    return jsonify({"received": len(checks), "stored": stored,
                    "duplicates": len(checks) - stored})


@bp.post("/api/v1/agents/heartbeat")
@operation(body=HEARTBEAT_SCHEMA, tags=("probes",))
@require_role(Role.AGENT)
def heartbeat() -> Any:
    """An agent says it is alive (every probe interval, checks or not), or with `stopping`
    that it stops on purpose (shown `stopped`, never paged). The answer tells it the
    interval the server expects heartbeats at and the catalogue's version, so a changed
    catalogue (a probe disabled) is fetched within one interval."""
    beat: Heartbeat = heartbeat_from_json(json_body())
    require_locations(_principal(), [beat.location])
    runtime = current_runtime()
    session = request_session()
    now = runtime.clock.now()
    if beat.stopping:
        row = session.get(Agent, beat.name)
        seen = None if row is None else AgentSeen(row.name, row.location, row.last_seen_at,
                                                  row.silent_since)
        enqueue(session, stop_notices(seen, runtime.settings), now)
    store.record_heartbeat(session, beat, request.remote_addr or "", now)
    version = store.catalogue_version(session)
    session.commit()
    return jsonify({"name": beat.name, "seen_at": now.isoformat(),
                    "interval_s": runtime.settings.probe_interval_s,
                    "catalogue_version": version})


@bp.get("/api/v1/agents")
@operation(tags=("probes",))
@require_role()
def list_agents() -> Any:
    """Every agent that ever reported, with when it was last heard from (admin): `silent`
    after 3 probe intervals without a heartbeat or a batch, `stopped` when it said so."""
    runtime = current_runtime()
    now, interval = runtime.clock.now(), runtime.settings.probe_interval_s
    return jsonify({"interval_s": interval, "agents": [
        {"name": row.name, "location": row.location, "version": row.version,
         "address": row.address, "first_seen_at": row.first_seen_at.isoformat(),
         "last_seen_at": row.last_seen_at.isoformat(),
         "seconds_since_seen": round((now - row.last_seen_at).total_seconds(), 3),
         "status": agent_status(row.last_seen_at, row.silent_since, now, interval),
         "silent_since": (row.silent_since.isoformat() if row.silent_since and not
                          is_stopped(row.last_seen_at, row.silent_since) else None)}
        for row in store.agents(request_session())]})


@bp.get("/api/v1/tls")
@operation(query={"all": {"type": "boolean"}}, tags=("probes",))
@require_role()
def tls_certificates() -> Any:
    """TLS certificates within `tls_warn_days` of expiry, soonest first (admin); `?all=true`
    lists every TLS probe's newest certificate."""
    runtime = current_runtime()
    warn_days = runtime.settings.tls_warn_days
    newest = newest_certificates(request_session(), runtime.clock.now())
    shown = expiring(newest, 10**6 if request.args.get("all") == "true" else warn_days)
    return jsonify({"warn_days": warn_days,
                    "certificates": [certificate.to_json() for certificate in shown]})


@bp.get("/api/v1/probes")
@operation(tags=("probes",))
@require_role(Role.AGENT)
def list_probes() -> Any:
    """Every probe definition (agents fetch the catalogue here)."""
    probes = store.list_probes(request_session(), current_runtime().settings.regions,
                               enabled_only=False)
    return jsonify({"probes": [probe_to_json(probe) for probe in probes]})


@bp.put("/api/v1/probes/<name>")
@operation(body=PROBE_SCHEMA, tags=("probes",))
@require_role()
def put_probe(name: str) -> Any:
    """Create or replace a probe (admin); it starts at once in a running instance.

    `warnings` say what will make its checks fail from this server's own locations while
    the definition itself is fine (an icmp probe where this process may not ping)."""
    body = {**json_body(), "name": name}
    runtime = current_runtime()
    spec = parse_probe(body, runtime.settings.regions, runtime.settings.probe_interval_s,
                       source="api")
    session = request_session()
    store.save_probe(session, spec, runtime.clock.now())
    session.commit()
    _reload_probes()
    return jsonify({**probe_to_json(spec), "warnings": _warnings(spec)})


def _warnings(spec: ProbeSpec) -> list[str]:
    why = icmp_refusal() if spec.kind is ProbeKind.ICMP else None
    return [] if why is None else [f"its checks from this server will fail: {why}"]


@bp.delete("/api/v1/probes/<name>")
@operation(tags=("probes",))
@require_role()
def delete_probe(name: str) -> Any:
    """Delete a probe (admin); its checks and rollups stay."""
    session = request_session()
    store.delete_probe(session, name)
    session.commit()
    _reload_probes()
    return jsonify({"deleted": name})


@bp.get("/api/v1/states")
@operation(public=True, tags=("probes",))
def states() -> Any:
    """The live state of every probed component in every region."""
    rows = store.states(request_session())
    return jsonify({"states": [
        {"component": c, "region": r, "state": row.state, "since": row.since.isoformat(),
         "reason": row.reason} for (c, r), row in sorted(rows.items())]})


@bp.get("/api/v1/states/history")
@operation(public=True, query={"component": {"type": "string"}, "region": {"type": "string"},
                               "limit": {"type": "integer", "minimum": 1, "maximum": 1000}},
           tags=("probes",))
def state_history() -> Any:
    """Every recorded change of state, newest first."""
    limit = request.args.get("limit", "200")
    if not limit.isdigit() or not 1 <= int(limit) <= 1000:
        raise BellwetherError("'limit' must be a whole number from 1 to 1000")
    rows = store.state_history(request_session(), request.args.get("component"),
                               request.args.get("region"), limit=int(limit))
    return jsonify({"changes": [
        {"component": row.component, "region": row.region, "from": row.from_state,
         "to": row.to_state, "at": row.at.isoformat(), "reason": row.reason} for row in rows]})


@bp.get("/api/v1/checks")
@operation(query={"component": {"type": "string", "required": True},
                  "region": {"type": "string", "required": True}}, tags=("probes",))
@require_role(Role.SUPPORT, Role.AGENT)
def recent_checks() -> Any:
    """The most recent checks of a (component, region), with their timings."""
    component, region = request.args.get("component"), request.args.get("region")
    if not component or not region:
        raise NotFound("give 'component' and 'region'")
    rows = store.recent_checks(request_session(), component, region)
    return jsonify({"checks": [
        {"id": r.id, "location": r.location, "started_at": r.started_at.isoformat(),
         "intended_at": r.intended_at.isoformat(), "ok": r.ok, "latency_ms": r.latency_ms,
         "status_code": r.status_code, "error": r.error, "timings": r.timings,
         "figures": r.figures} for r in rows]})


@bp.get("/api/v1/minutes")
@operation(query={"component": {"type": "string", "required": True},
                  "region": {"type": "string", "required": True},
                  "since": {"type": "string", "required": True},
                  "until": {"type": "string", "required": True}}, tags=("probes",))
@require_role(Role.SUPPORT, Role.ACCOUNT_MANAGER)
def minutes() -> Any:
    """Minute verdicts of a (component, region) between two times, counted (the SLA's input)."""
    component, region = request.args.get("component"), request.args.get("region")
    if not component or not region:
        raise BellwetherError("give 'component' and 'region'")
    since, until = _time_arg("since"), _time_arg("until")
    if until < since:
        raise BellwetherError("'until' must not be before 'since'")
    first, last = minute_of(since), minute_of(until)
    if last - first > 60 * 24 * 93:
        raise BellwetherError("ask for at most 93 days at a time")
    session = request_session()
    return jsonify({"component": component, "region": region, "first_minute": first,
                    "last_minute": last,
                    "counts": store.verdict_counts(session, component, region, first, last),
                    "last_rolled_minute": store.last_rolled_minute(session, component,
                                                                   region)})


def _time_arg(name: str) -> datetime:
    raw = request.args.get(name, "")
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BellwetherError(f"'{name}' must be an ISO 8601 time") from None
    if value.tzinfo is None:
        raise BellwetherError(f"'{name}' must carry a time zone")
    return value
