"""Which PagerDuty events an incident change makes: routing by tier and impact, the
contract's dedup_key, and a stable outbox key per event (pure: no network, no database)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from alerts.outbox import Notice
from core.config import Settings

ACTIONS = ("trigger", "acknowledge", "resolve")


def dedup_key(incident_id: int) -> str:
    """The contract's key: every event of one incident carries it, so repeats are harmless."""
    return f"bellwether-incident-{incident_id}"


@dataclass(frozen=True, slots=True)
class IncidentPage:
    """What a page says about an incident.

    `components` are (component, region, state); `tier` is the most important tier
    affected (1 beats 2); `first_failures` are a few failing checks, as dicts.
    """

    incident_id: int
    title: str
    impact: str
    tier: int
    components: Sequence[tuple[str, str, str]]
    link: str
    first_failures: Sequence[dict[str, Any]] = field(default_factory=tuple)


def route(tier: int, impact: str, settings: Settings) -> tuple[str | None, str]:
    """The routing key and severity: Tier 1 major or critical → critical on the Tier 1 key;
    Tier 1 minor → error; Tier 2 → warning on the Tier 2 key."""
    if tier == 1:
        severity = "critical" if impact in ("major", "critical") else "error"
        return settings.pagerduty_routing_key_tier1, severity
    return settings.pagerduty_routing_key_tier2, "warning"


def page_notices(page: IncidentPage, action: str, revision: int,
                 settings: Settings) -> list[Notice]:
    """The outbox rows for one PagerDuty event; none when that tier has no routing key.

    `revision` numbers the triggers of one incident (a later trigger updates it when more
    components are affected); acknowledge and resolve happen once, whatever the revision.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown PagerDuty action {action!r}")
    routing_key, severity = route(page.tier, page.impact, settings)
    if not routing_key:
        return []
    suffix = f"{action}:{revision}" if action == "trigger" else action
    affected = [{"component": c, "region": r, "state": s} for c, r, s in page.components]
    payload: dict[str, Any] = {
        "action": action, "dedup_key": dedup_key(page.incident_id),
        "summary": page.title[:1024], "severity": severity, "source": "bellwether",
        "custom_details": {"affected": affected,
                           "regions": sorted({r for _, r, _ in page.components}),
                           "first_failing_checks": list(page.first_failures)[:5],
                           "impact": page.impact, "tier": page.tier},
        "links": [{"href": page.link, "text": f"incident {page.incident_id}"}],
    }
    return [Notice(key=f"pd:incident-{page.incident_id}:{suffix}", channel="pagerduty",
                   recipient=routing_key, event_type=f"page.{action}", payload=payload,
                   ordering_key=f"incident-{page.incident_id}")]
