"""HTTP edge of the probes package: ingest from agents, the probe admin API, live state,
and `/metrics`. Views are thin: parse, call the store, answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from alerts.outbox import enqueue
from core.auth import Principal, require_locations
from core.db import read_scope
from core.errors import BellwetherError
from core.metrics import metrics_response
from core.models import Role
from core.openapi import operation
from core.schemas import request_body, request_query, validate_body
from core.web import current_runtime, json_body, request_session, require_role
from probes import relay, store
from probes import schemas as api
from probes.checks import CheckResult, check_from_json
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
@operation(body=api.IngestIn, responses={200: api.Ingested}, tags=("probes",))
@require_role(Role.AGENT)
def ingest() -> Any:
    """Store a batch of checks from a remote location; a batch sent twice is stored once.

    An agent token may send checks only for the locations it was issued for: a batch with
    one check for another location is refused whole (403). The batch's `agent` (who sent
    it) counts as a heartbeat, and the answer then carries `rechecks`: the pairs the other
    locations' failures ask this one to re-check now (probes.relay). An empty batch is how
    an agent with nothing to send asks for them; it writes nothing.
    """
    body = json_body()
    raw = body.get("checks")
    try:
        request_body(api.IngestIn)
        checks = [check_from_json(item) for item in body["checks"]]
    except BellwetherError:
        _metrics().ingested.labels("rejected").inc(len(raw) if isinstance(raw, list) else 0)
        raise
    agent = heartbeat_from_json(body["agent"]) if body.get("agent") is not None else None
    locations = {check.location for check in checks} | ({agent.location} if agent else set())
    try:
        require_locations(_principal(), locations)
    except BellwetherError:
        _metrics().ingested.labels("refused").inc(len(checks))
        raise
    now = current_runtime().clock.now()
    before, pending = _relay_reads(checks, agent, now)
    stored = 0
    if checks:
        session = request_session()
        stored = store.save_checks(session, checks, now)
        store.record_rechecks(session, relay.requests_for(checks, before, now), now)
        if agent is not None:
            store.record_heartbeat(session, agent, request.remote_addr or "", now)
        session.commit()
    _metrics().ingested.labels("stored").inc(stored)
    _metrics().ingested.labels("duplicate").inc(len(checks) - stored)
    answer: dict[str, Any] = {"received": len(checks), "stored": stored,
                              "duplicates": len(checks) - stored}
    if pending is not None:
        answer["rechecks"] = [asked.to_json() for asked in pending]
    return jsonify(answer)


def _relay_reads(checks: list[CheckResult], agent: Heartbeat | None, now: datetime,
                 ) -> tuple[dict[relay.Job, bool], list[relay.RecheckRequest] | None]:
    """What the relay needs to know before the batch is written (on SQLite, read outside the
    write lock): the outcomes before the batch's fresh failures, and the requests of other
    locations for the agent that sent it (None without one)."""
    firsts = relay.jobs_to_look_up(checks, now)
    if not firsts and agent is None:
        return {}, None
    with read_scope(current_runtime().session_factory) as session:
        before = store.previous_outcomes(session, firsts)
        pending = None if agent is None else store.pending_rechecks(session, agent.location,
                                                                    now)
    return before, pending


@bp.post("/api/v1/agents/heartbeat")
@operation(body=api.HeartbeatIn, responses={200: api.HeartbeatAnswer}, tags=("probes",))
@require_role(Role.AGENT)
def heartbeat() -> Any:
    """An agent says it is alive (every probe interval, checks or not), or with `stopping`
    that it stops on purpose (shown `stopped`, never paged). The answer tells it the
    interval the server expects heartbeats at and the catalogue's version, so a changed
    catalogue (a probe disabled) is fetched within one interval."""
    request_body(api.HeartbeatIn)
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
@operation(responses={200: api.Agents}, tags=("probes",))
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
@operation(query=api.TlsQuery, responses={200: api.Certificates}, tags=("probes",))
@require_role()
def tls_certificates() -> Any:
    """TLS certificates within `tls_warn_days` of expiry, soonest first (admin); `?all=true`
    lists every TLS probe's newest certificate."""
    runtime = current_runtime()
    warn_days = runtime.settings.tls_warn_days
    every = request_query(api.TlsQuery).all
    newest = newest_certificates(request_session(), runtime.clock.now())
    shown = expiring(newest, 10**6 if every else warn_days)
    return jsonify({"warn_days": warn_days,
                    "certificates": [certificate.to_json() for certificate in shown]})


@bp.get("/api/v1/probes")
@operation(responses={200: api.Probes}, tags=("probes",))
@require_role(Role.AGENT)
def list_probes() -> Any:
    """Every probe definition (agents fetch the catalogue here)."""
    probes = store.list_probes(request_session(), current_runtime().settings.regions,
                               enabled_only=False)
    return jsonify({"probes": [probe_to_json(probe) for probe in probes]})


@bp.put("/api/v1/probes/<name>")
@operation(body=api.ProbeIn, responses={200: api.ProbeSaved}, tags=("probes",))
@require_role()
def put_probe(name: str) -> Any:
    """Create or replace a probe (admin); it starts at once in a running instance.

    `warnings` say what will make its checks fail from this server's own locations while
    the definition itself is fine (an icmp probe where this process may not ping)."""
    body = {**json_body(), "name": name}
    validate_body(api.ProbeIn, body)
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
@operation(responses={200: api.ProbeDeleted}, tags=("probes",))
@require_role()
def delete_probe(name: str) -> Any:
    """Delete a probe (admin); its checks and rollups stay."""
    session = request_session()
    store.delete_probe(session, name)
    session.commit()
    _reload_probes()
    return jsonify({"deleted": name})


@bp.get("/api/v1/states")
@operation(public=True, responses={200: api.States}, tags=("probes",))
def states() -> Any:
    """The live state of every probed component in every region."""
    rows = store.states(request_session())
    return jsonify({"states": [
        {"component": c, "region": r, "state": row.state, "since": row.since.isoformat(),
         "reason": row.reason} for (c, r), row in sorted(rows.items())]})


@bp.get("/api/v1/states/history")
@operation(public=True, query=api.HistoryQuery, responses={200: api.StateChanges},
           tags=("probes",))
def state_history() -> Any:
    """Every recorded change of state, newest first."""
    query = request_query(api.HistoryQuery)
    rows = store.state_history(request_session(), query.component, query.region,
                               limit=query.limit)
    return jsonify({"changes": [
        {"component": row.component, "region": row.region, "from": row.from_state,
         "to": row.to_state, "at": row.at.isoformat(), "reason": row.reason} for row in rows]})


@bp.get("/api/v1/checks")
@operation(query=api.ChecksQuery, responses={200: api.Checks}, tags=("probes",))
@require_role(Role.SUPPORT, Role.AGENT)
def recent_checks() -> Any:
    """The most recent checks of a (component, region), with their timings."""
    query = request_query(api.ChecksQuery)
    rows = store.recent_checks(request_session(), query.component, query.region)
    return jsonify({"checks": [
        {"id": r.id, "location": r.location, "started_at": r.started_at.isoformat(),
         "intended_at": r.intended_at.isoformat(), "ok": r.ok, "latency_ms": r.latency_ms,
         "status_code": r.status_code, "error": r.error, "timings": r.timings,
         "figures": r.figures} for r in rows]})


@bp.get("/api/v1/minutes")
@operation(query=api.MinutesQuery, responses={200: api.Minutes}, tags=("probes",))
@require_role(Role.SUPPORT, Role.ACCOUNT_MANAGER)
def minutes() -> Any:
    """Minute verdicts of a (component, region) between two times, counted (the SLA's input)."""
    query = request_query(api.MinutesQuery)
    component, region, since, until = query.component, query.region, query.since, query.until
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

