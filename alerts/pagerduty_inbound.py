"""PagerDuty's V3 webhooks as values: the signature check, the event, the Bellwether
incident it is about, and what that incident's timeline says of it (pure: no web, no
database; alerts.pagerduty_timeline stores it).

PagerDuty signs the raw body with each of the subscription's secrets, HMAC-SHA256 in hex, and
sends them all in one header while a secret is rotated:
`X-PagerDuty-Signature: v1=<hex>,v1=<hex>`. The event's `data.incident_key` is the dedup_key
Bellwether paged with (`bellwether-incident-<id>`, or `…-tier<N>` for an escalation).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.config import Settings

SIGNATURE_HEADER = "X-PagerDuty-Signature"
#: A delivery PagerDuty retried for its ~20 minutes, or queued behind one, is still taken.
MAX_AGE = timedelta(minutes=30)
#: How far ahead of our clock an event may claim to have happened (clock skew).
MAX_AHEAD = timedelta(minutes=5)
#: The event types written on the timeline; every other type is answered and ignored.
FOLLOWED = frozenset({"incident.acknowledged", "incident.unacknowledged",
                      "incident.reassigned", "incident.delegated", "incident.escalated",
                      "incident.resolved", "incident.reopened"})
_OUR_KEY = re.compile(r"bellwether-incident-([0-9]{1,18})(?:-tier[0-9]+)?")


class MalformedEvent(ValueError):
    """The body is not a V3 webhook event (no event id, type or time)."""


def webhook_secrets(settings: Settings) -> tuple[str, ...]:
    """The subscription secrets to accept, from the config file's `pagerduty_webhook_secret`
    (one secret, or a list while rotating); empty when the endpoint is off."""
    raw = settings.extra.get("pagerduty_webhook_secret")
    values = raw if isinstance(raw, list | tuple) else [raw]
    return tuple(str(value) for value in values if value)


def max_age(settings: Settings) -> timedelta:
    """The replay window: older events are refused (`pagerduty_webhook_max_age_s`)."""
    raw = settings.extra.get("pagerduty_webhook_max_age_s")
    return MAX_AGE if raw is None else timedelta(seconds=float(raw))


def signed_by(body: bytes, header: str, secrets: Sequence[str]) -> bool:
    """Whether one of the header's `v1=` signatures is the body's HMAC-SHA256 (hex) under
    one of `secrets`; compared in constant time.

    >>> sig = hmac.new(b"s3cret", b"{}", hashlib.sha256).hexdigest()
    >>> signed_by(b"{}", f"v1=00,v1={sig}", ["old", "s3cret"]), signed_by(b"{}", sig, ["s3cret"])
    (True, False)
    """
    offered = [part.strip()[3:].encode() for part in header.split(",")
               if part.strip().startswith("v1=")]
    for secret in secrets:
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return True
    return False


@dataclass(frozen=True, slots=True)
class InboundEvent:
    """One V3 webhook event, reduced to what the timeline needs.

    `agent` is who did it (its summary) and `agent_type` PagerDuty's reference type;
    `incident_key` the alert's dedup_key (incident events only).
    """

    id: str
    event_type: str
    occurred_at: datetime
    agent: str = ""
    agent_type: str = ""
    pd_incident: str | None = None
    number: int | None = None
    incident_key: str | None = None
    assignees: tuple[str, ...] = ()
    escalation_policy: str = ""
    resolve_reason: str = ""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _summary(value: Any) -> str:
    return _text(value.get("summary")) if isinstance(value, Mapping) else ""


def _reason(value: Any) -> str:
    """PagerDuty's `resolve_reason`: null, or a reference (e.g. a merge) with a summary or
    a type."""
    if isinstance(value, Mapping):
        return _summary(value) or _text(value.get("type"))
    return _text(value)


def parse_time(raw: Any) -> datetime:
    """An ISO 8601 time with a zone (PagerDuty writes `2020-10-02T18:45:22.169Z`)."""
    try:
        moment = datetime.fromisoformat(_text(raw))
    except ValueError:
        raise MalformedEvent(f"'occurred_at' is not an ISO 8601 time: {raw!r}") from None
    if moment.tzinfo is None:
        raise MalformedEvent("'occurred_at' has no time zone")
    return moment


def parse_event(body: Mapping[str, Any]) -> InboundEvent:
    """The event of a V3 webhook body; MalformedEvent without an id, a type or a time."""
    event = body.get("event")
    if not isinstance(event, Mapping):
        raise MalformedEvent("the body has no 'event' object")
    event_id, event_type = _text(event.get("id")), _text(event.get("event_type"))
    if not event_id or len(event_id) > 100 or not event_type:
        raise MalformedEvent("the event needs an 'id' (up to 100 characters) and an "
                             "'event_type'")
    data = event.get("data") if isinstance(event.get("data"), Mapping) else {}
    assert isinstance(data, Mapping)
    agent = event.get("agent")
    incident = data if data.get("type") == "incident" else {}
    number = incident.get("number")
    return InboundEvent(
        id=event_id, event_type=event_type[:64], occurred_at=parse_time(event.get("occurred_at")),
        agent=_summary(agent), agent_type=_text(agent.get("type")) if isinstance(agent, Mapping)
        else "", pd_incident=_text(incident.get("id"))[:64] or None,
        number=number if isinstance(number, int) else None,
        incident_key=_text(incident.get("incident_key")) or None,
        assignees=tuple(name for name in (_summary(a) for a in incident.get("assignees") or ()
                                          if isinstance(a, Mapping)) if name),
        escalation_policy=_summary(incident.get("escalation_policy")),
        resolve_reason=_reason(incident.get("resolve_reason")))


def incident_id_of(incident_key: str | None) -> int | None:
    """Bellwether's incident id in one of its dedup_keys; None for anyone else's alert.

    >>> incident_id_of("bellwether-incident-7"), incident_id_of("bellwether-incident-7-tier1")
    (7, 7)
    >>> incident_id_of("d3640fbd41094207a1c11e58e46b1662") is None
    True
    """
    match = _OUR_KEY.fullmatch(incident_key or "")
    return int(match.group(1)) if match else None


def too_old_or_new(occurred_at: datetime, now: datetime, window: timedelta) -> str | None:
    """Why an event is refused as a replay (older than `window`) or from the future; None
    when it is fresh."""
    if occurred_at < now - window:
        return (f"the event occurred at {occurred_at.isoformat()}, longer ago than the "
                f"replay window of {int(window.total_seconds())} s")
    if occurred_at > now + MAX_AHEAD:
        return f"the event claims to occur at {occurred_at.isoformat()}, in the future"
    return None


def ignored_because(event: InboundEvent) -> str | None:
    """Why an event changes nothing here, or None when it goes on a timeline: a type we do
    not follow, an alert that is not Bellwether's, or a change made through an integration
    (Bellwether's own acknowledge and resolve come back this way)."""
    if event.event_type not in FOLLOWED:
        return f"event type {event.event_type} is not followed"
    if incident_id_of(event.incident_key) is None:
        return "not a Bellwether alert (its incident_key is not bellwether-incident-<id>)"
    if event.agent_type.endswith("integration_reference"):
        return "made through an integration, such as Bellwether's own events"
    return None


def timeline_note(event: InboundEvent, incident_open: bool) -> str:
    """The internal (on-call) update that records the event on the incident's timeline."""
    who = event.agent or "PagerDuty"
    where = f"PagerDuty incident #{event.number}" if event.number else "PagerDuty"
    to = ", ".join(event.assignees) or "nobody"
    texts = {
        "incident.acknowledged": f"Acknowledged in PagerDuty by {who}.",
        "incident.unacknowledged": "No longer acknowledged in PagerDuty: it pages again.",
        "incident.reassigned": f"Reassigned in PagerDuty to {to} by {who}.",
        "incident.delegated": (f"Delegated in PagerDuty to escalation policy "
                               f"{event.escalation_policy or 'unknown'} ({to}) by {who}."),
        "incident.escalated": f"Escalated in PagerDuty to {to}.",
        "incident.reopened": f"Reopened in PagerDuty by {who}.",
        "incident.resolved": f"Resolved in PagerDuty by {who}"
                             + (f" ({event.resolve_reason})." if event.resolve_reason else "."),
    }
    text = texts.get(event.event_type, f"{event.event_type} in PagerDuty by {who}.")
    if event.event_type == "incident.resolved" and incident_open:
        text += (" This does not resolve the incident here: Bellwether resolves it when "
                 "probes see everything working again.")
    return f"[PagerDuty] {text} ({where}, alert {event.incident_key})"


def still_failing_note(agent: str, resolved_at: datetime,
                       failing: Sequence[tuple[str, str, str]]) -> str:
    """The note of the first evaluation after a PagerDuty resolve that still fails."""
    who = f" by {agent}" if agent else ""
    what = "; ".join(f"{c} ({r}) {s}" for c, r, s in failing) or "the outage"
    return (f"[PagerDuty] Resolved in PagerDuty{who} at {resolved_at:%H:%M:%S} UTC, but probes "
            f"still see it failing: {what}. The incident stays open, and PagerDuty's alert "
            "stays closed.")
