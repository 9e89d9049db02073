"""PagerDuty V3 webhook bodies as PagerDuty documents them (developer.pagerduty.com, "V3
Webhooks Overview": the `incident.priority_updated` example and the `incident` data type),
with the event's id, type, time, agent and the alert's incident_key filled in per test; and
the `X-PagerDuty-Signature` header PagerDuty sends with them ("Verifying Signatures")."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

#: The documented example, verbatim but for the fields each test sets.
DOCUMENTED: dict[str, Any] = {
    "event": {
        "id": "5ac64822-4adc-4fda-ade0-410becf0de4f",
        "event_type": "incident.priority_updated",
        "resource_type": "incident",
        "occurred_at": "2020-10-02T18:45:22.169Z",
        "agent": {
            "html_url": "https://acme.pagerduty.com/users/PLH1HKV",
            "id": "PLH1HKV",
            "self": "https://api.pagerduty.com/users/PLH1HKV",
            "summary": "Tenex Engineer",
            "type": "user_reference",
        },
        "client": {"name": "PagerDuty"},
        "data": {
            "id": "PGR0VU2",
            "type": "incident",
            "self": "https://api.pagerduty.com/incidents/PGR0VU2",
            "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2",
            "number": 2,
            "status": "triggered",
            "incident_key": "d3640fbd41094207a1c11e58e46b1662",
            "created_at": "2020-04-09T15:16:27Z",
            "title": "A little bump in the road",
            "service": {
                "html_url": "https://acme.pagerduty.com/services/PF9KMXH",
                "id": "PF9KMXH",
                "self": "https://api.pagerduty.com/services/PF9KMXH",
                "summary": "API Service",
                "type": "service_reference",
            },
            "assignees": [{
                "html_url": "https://acme.pagerduty.com/users/PTUXL6G",
                "id": "PTUXL6G",
                "self": "https://api.pagerduty.com/users/PTUXL6G",
                "summary": "User 123",
                "type": "user_reference",
            }],
            "escalation_policy": {
                "html_url": "https://acme.pagerduty.com/escalation_policies/PUS0KTE",
                "id": "PUS0KTE",
                "self": "https://api.pagerduty.com/escalation_policies/PUS0KTE",
                "summary": "Default",
                "type": "escalation_policy_reference",
            },
            "teams": [{
                "html_url": "https://acme.pagerduty.com/teams/PFCVPS0",
                "id": "PFCVPS0",
                "self": "https://api.pagerduty.com/teams/PFCVPS0",
                "summary": "Engineering",
                "type": "team_reference",
            }],
            "priority": {
                "html_url": "https://acme.pagerduty.com/account/incident_priorities",
                "id": "PSO75BM",
                "self": "https://api.pagerduty.com/priorities/PSO75BM",
                "summary": "P1",
                "type": "priority_reference",
            },
            "urgency": "high",
            "conference_bridge": {"conference_number": "+1 1234123412,,987654321#",
                                  "conference_url": "https://example.com"},
            "resolve_reason": None,
        },
    },
}

#: The documented `service.updated` example: an event type Bellwether does not follow.
SERVICE_UPDATED: dict[str, Any] = {
    "event": {
        "id": "01BRB6ZP4M6T8ZG4X6BP63ZB9O",
        "event_type": "service.updated",
        "resource_type": "service",
        "occurred_at": "2021-03-02T13:35:11.682Z",
        "agent": None,
        "client": None,
        "data": {
            "html_url": "https://acme.pagerduty.com/services/PF9KMXH",
            "id": "PF9KMXH",
            "self": "https://api.pagerduty.com/services/PF9KMXH",
            "summary": "testing service updates",
            "alert_creation": "create_alerts_and_incidents",
            "teams": [{"html_url": "https://acme.pagerduty.com/teams/PFCVPS0", "id": "PFCVPS0",
                       "self": "https://api.pagerduty.com/teams/PFCVPS0",
                       "summary": "Engineering", "type": "team_reference"}],
            "type": "service",
        },
    },
}


def incident_event(event_id: str, event_type: str, occurred_at: datetime, incident_key: str,
                   *, agent: str = "Tenex Engineer", agent_type: str = "user_reference",
                   assignees: Sequence[str] = ("User 123",),
                   escalation_policy: str = "Default") -> dict[str, Any]:
    """The documented incident event with these fields set."""
    body = copy.deepcopy(DOCUMENTED)
    event = body["event"]
    event.update(id=event_id, event_type=event_type,
                 occurred_at=occurred_at.isoformat().replace("+00:00", "Z"))
    event["agent"].update(summary=agent, type=agent_type)
    data = event["data"]
    data["incident_key"] = incident_key
    data["status"] = {"incident.acknowledged": "acknowledged",
                      "incident.resolved": "resolved"}.get(event_type, "triggered")
    data["assignees"] = [dict(data["assignees"][0], summary=name) for name in assignees]
    data["escalation_policy"]["summary"] = escalation_policy
    return body


def service_event(event_id: str, occurred_at: datetime) -> dict[str, Any]:
    body = copy.deepcopy(SERVICE_UPDATED)
    body["event"].update(id=event_id, occurred_at=occurred_at.isoformat())
    return body


def encoded(body: dict[str, Any]) -> bytes:
    """The body as PagerDuty sends it: UTF-8 JSON (signed as these exact bytes)."""
    return json.dumps(body, ensure_ascii=False).encode()


def signature_header(raw: bytes, secrets: Sequence[str]) -> str:
    """`v1=<hex HMAC-SHA256>` per secret, comma-separated (several during a rotation)."""
    return ",".join("v1=" + hmac.new(s.encode(), raw, hashlib.sha256).hexdigest()
                    for s in secrets)
