"""What admins see of deliveries: the outbox (API) and the failing webhooks and dead
notices (admin page), so a receiver that keeps failing does not fail silently."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template, request
from sqlalchemy import select

from alerts import schemas as api
from alerts.models import OutboxRow
from alerts.pagerduty_inbound import (
    SIGNATURE_HEADER,
    MalformedEvent,
    max_age,
    parse_event,
    signed_by,
    too_old_or_new,
    webhook_secrets,
)
from alerts.pagerduty_timeline import record_event
from core.config import Settings
from core.errors import BellwetherError, Unauthorized, Unavailable
from core.login import require_user
from core.models import Role
from core.openapi import operation
from core.schemas import request_body, request_query
from core.web import current_runtime, json_body, request_session, require_role
from status import subscriber_standing

bp = Blueprint("alerts", __name__)


#: The settings that hold each tier's PagerDuty routing key (named, never shown).
ROUTING_KEY_VARIABLES = {"tier1": "BELLWETHER_PAGERDUTY_ROUTING_KEY_TIER1",
                         "tier2": "BELLWETHER_PAGERDUTY_ROUTING_KEY_TIER2"}


def _routing_name(recipient: str, settings: Settings) -> str:
    """Which tier's key a page went to, by name: the key itself is a secret."""
    keys = {"tier1": settings.pagerduty_routing_key_tier1,
            "tier2": settings.pagerduty_routing_key_tier2}
    return next((name for name, key in keys.items() if key and key == recipient), "other")


def _row_json(row: OutboxRow, settings: Settings) -> dict[str, Any]:
    body = {"id": row.id, "key": row.key, "channel": row.channel, "event_type": row.event_type,
            "ordering_key": row.ordering_key, "status": row.status, "attempts": row.attempts,
            "created_at": row.created_at.isoformat(),
            "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None,
            "next_attempt_at": row.next_attempt_at.isoformat(), "last_error": row.last_error}
    if row.channel == "pagerduty":
        body["dedup_key"] = (row.payload or {}).get("dedup_key")
        body["routing"] = _routing_name(row.recipient, settings)
    return body


@bp.get("/api/v1/outbox")
@operation(query=api.OutboxQuery, responses={200: api.OutboxRows}, tags=("alerts",))
@require_role(Role.SUPPORT)
def outbox() -> Any:
    """Recent outbox rows (pages, emails, webhooks) with their delivery state."""
    asked = request_query(api.OutboxQuery)
    query = select(OutboxRow).order_by(OutboxRow.id.desc()).limit(1000)
    if asked.since is not None:
        query = query.where(OutboxRow.created_at >= asked.since)
    if asked.status:
        query = query.where(OutboxRow.status == asked.status)
    if asked.channel:
        query = query.where(OutboxRow.channel == asked.channel)
    settings = current_runtime().settings
    return jsonify({"rows": [_row_json(row, settings)
                             for row in request_session().scalars(query)]})


@bp.get("/api/v1/paging")
@operation(responses={200: api.Paging}, tags=("alerts",))
@require_role(Role.SUPPORT)
def paging() -> Any:
    """Who can hear of an outage here: whether each tier's PagerDuty routing key and SMTP are
    configured (never the keys), how many subscribers are live, and the probe interval, so a
    drill can say "paging is not configured" instead of counting 0 pages."""
    from status.jobs import (  # the status package's settings
        notice_interval,
        notice_settle,
        reopen_window,
    )

    settings = current_runtime().settings
    keys = {"tier1": settings.pagerduty_routing_key_tier1,
            "tier2": settings.pagerduty_routing_key_tier2}
    live = subscriber_standing.live_counts(request_session())
    return jsonify({
        "pagerduty": {tier: {"configured": bool(keys[tier]), "setting": variable}
                      for tier, variable in ROUTING_KEY_VARIABLES.items()},
        "email": {"configured": settings.smtp_url is not None,
                  "setting": "BELLWETHER_SMTP_URL"},
        "subscribers": live,
        "probe_interval_s": settings.probe_interval_s,
        "confirmations": settings.confirmations,
        "notice_settle_s": notice_settle(settings).total_seconds(),
        "notice_interval_s": notice_interval(settings).total_seconds(),
        "incident_reopen_s": reopen_window(settings).total_seconds()})


@bp.post("/api/v1/integrations/pagerduty")
@operation(body=api.PagerDutyEventIn, responses={202: api.PagerDutyReceipt}, tags=("alerts",))
def pagerduty_webhook() -> Any:
    """PagerDuty V3 webhooks, authenticated by X-PagerDuty-Signature (not a bearer token):
    acknowledgements, reassignments and resolutions made in PagerDuty, on the incident's
    timeline for on-call.

    Unsigned or wrongly signed: 401; signed but no secret configured: 503; an event older
    than the replay window: 400; anything else 202, saying what came of it (an event type
    not followed is ignored, a redelivered event id is a duplicate).
    """
    runtime = current_runtime()
    header = request.headers.get(SIGNATURE_HEADER, "")
    if not header:
        raise Unauthorized(f"unsigned: PagerDuty signs every V3 webhook ({SIGNATURE_HEADER})")
    secrets = webhook_secrets(runtime.settings)
    if not secrets:
        raise Unavailable("PagerDuty webhooks are off: set pagerduty_webhook_secret "
                          "in the config file to the subscription's secret")
    if not signed_by(request.get_data(cache=True), header, secrets):
        raise Unauthorized(f"no {SIGNATURE_HEADER} signature matches this body")
    request_body(api.PagerDutyEventIn)
    try:
        event = parse_event(json_body())
    except MalformedEvent as exc:
        raise BellwetherError(str(exc), code="malformed_event") from None
    now = runtime.clock.now()
    stale = too_old_or_new(event.occurred_at, now, max_age(runtime.settings))
    if stale:
        raise BellwetherError(stale, code="stale_event")
    session = request_session()
    receipt = record_event(session, event, now, runtime.settings)
    session.commit()
    return jsonify({"event_id": event.id, "outcome": receipt.outcome,
                    "incident_id": receipt.incident_id, "reason": receipt.reason}), 202


@bp.get("/admin/deliveries")
@require_user()
def deliveries_page() -> Any:
    dead = request_session().scalars(select(OutboxRow).where(OutboxRow.status == "dead")
                                     .order_by(OutboxRow.id.desc()).limit(100))
    return render_template("admin/deliveries.html",
                           subscribers=subscriber_standing.failing(request_session()),
                           dead=list(dead))
