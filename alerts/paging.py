"""Which PagerDuty events an incident change makes: routing by tier and impact, the
contract's dedup_keys, and a stable outbox key per event (pure: no network, no database).

A page's routing key is part of its identity: PagerDuty drops an acknowledge or resolve
sent to another key than its trigger went to. So an incident's alerts are `PageTarget`s,
stored with the routing key their first trigger used (status' `incident_pages`); every
later event of that dedup_key goes there, and an escalation to another tier's key is a new
alert with its own dedup_key (`bellwether-incident-<id>-tier1`), resolved on its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from alerts.outbox import Notice
from core.config import Settings

ACTIONS = ("trigger", "acknowledge", "resolve")


def dedup_key(incident_id: int, tier: int | None = None) -> str:
    """The contract's key: `bellwether-incident-<id>` for an incident's first alert, and
    `bellwether-incident-<id>-tier<N>` for an escalation to another tier's routing key.

    >>> dedup_key(7), dedup_key(7, 1)
    ('bellwether-incident-7', 'bellwether-incident-7-tier1')
    """
    base = f"bellwether-incident-{incident_id}"
    return base if tier is None else f"{base}-tier{tier}"


@dataclass(frozen=True, slots=True)
class IncidentPage:
    """What a page says about an incident.

    `components` are (component, region, state); `tier` is the most important tier
    affected (1 beats 2); `first_failures` are a few failing checks, as dicts; `started_at`
    is when the failure began (PagerDuty's `timestamp`); `root` the root-cause component,
    `source` the endpoint that fails, `kind` PagerDuty's `class` (outage, burn_rate, declared).
    """

    incident_id: int
    title: str
    impact: str
    tier: int
    components: Sequence[tuple[str, str, str]]
    link: str
    first_failures: Sequence[dict[str, Any]] = field(default_factory=tuple)
    started_at: datetime | None = None
    root: str = ""
    source: str = "bellwether"
    kind: str = "outage"
    severity: str | None = None


@dataclass(frozen=True, slots=True)
class PageTarget:
    """One PagerDuty alert of an incident: its dedup_key and the routing key it lives on."""

    dedup_key: str
    routing_key: str
    tier: int


def route(tier: int, impact: str, settings: Settings) -> tuple[str | None, str]:
    """The routing key and severity: Tier 1 major or critical → critical on the Tier 1 key;
    Tier 1 minor → error; Tier 2 → warning on the Tier 2 key."""
    if tier == 1:
        severity = "critical" if impact in ("major", "critical") else "error"
        return settings.pagerduty_routing_key_tier1, severity
    return settings.pagerduty_routing_key_tier2, "warning"


def trigger_target(page: IncidentPage, known: Sequence[PageTarget],
                   settings: Settings) -> tuple[PageTarget | None, bool]:
    """Where a trigger for `page` goes, and whether that alert is new.

    The alert already on the routing key the incident now routes to is updated (same
    dedup_key); a routing key with no alert yet gets a new one: the incident's first alert
    is `bellwether-incident-<id>`, later ones name their tier. None when that tier has no
    routing key (paging off for it).

    >>> from core.config import Settings
    >>> s = Settings(pagerduty_routing_key_tier1="K1", pagerduty_routing_key_tier2="K2")
    >>> p = IncidentPage(7, "import unavailable", "major", 2, [], "")
    >>> trigger_target(p, [], s)
    (PageTarget(dedup_key='bellwether-incident-7', routing_key='K2', tier=2), True)
    >>> first = trigger_target(p, [], s)[0]
    >>> from dataclasses import replace
    >>> trigger_target(replace(p, tier=1), [first], s)
    (PageTarget(dedup_key='bellwether-incident-7-tier1', routing_key='K1', tier=1), True)
    """
    routing_key, _ = route(page.tier, page.impact, settings)
    if not routing_key:
        return None, False
    for target in known:
        if target.routing_key == routing_key:
            return target, False
    key = dedup_key(page.incident_id) if not known else dedup_key(page.incident_id, page.tier)
    return PageTarget(key, routing_key, page.tier), True


def outbox_key(target: PageTarget, action: str, revision: int) -> str:
    """Stable per event: a trigger per revision, an acknowledge once, a resolve per closing:
    `:resolve` for the first, `:resolve:<revision>` once the incident was reopened.

    >>> t = PageTarget("bellwether-incident-7-tier1", "K1", 1)
    >>> outbox_key(t, "trigger", 3), outbox_key(t, "resolve", 0)
    ('pd:incident-7-tier1:trigger:3', 'pd:incident-7-tier1:resolve')
    """
    base = f"pd:{target.dedup_key.removeprefix('bellwether-')}"
    if action == "trigger":
        return f"{base}:trigger:{revision}"
    if action == "resolve" and revision:
        return f"{base}:resolve:{revision}"
    return f"{base}:{action}"


def resolve_prefix(dedup: str) -> str:
    """What every resolve of one alert's outbox key starts with (see `outbox_key`)."""
    return f"pd:{dedup.removeprefix('bellwether-')}:resolve"


def page_notice(page: IncidentPage, target: PageTarget, action: str, revision: int,
                settings: Settings) -> Notice:
    """The outbox row of one PagerDuty event on `target`'s routing key and dedup_key.

    The payload fills PagerDuty's own fields so its grouping rules work: `timestamp` the
    failure's start, `source` the failing endpoint, `component` the root cause, `group` the
    region(s), `class` the kind of alert.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown PagerDuty action {action!r}")
    _, routed_severity = route(target.tier, page.impact, settings)
    severity = page.severity or routed_severity
    affected = [{"component": c, "region": r, "state": s} for c, r, s in page.components]
    regions = sorted({r for _, r, _ in page.components})
    payload: dict[str, Any] = {
        "action": action, "dedup_key": target.dedup_key,
        "summary": page.title[:1024], "severity": severity, "source": page.source[:255],
        "component": page.root or (page.components[0][0] if page.components else ""),
        "group": ", ".join(regions), "class": page.kind,
        "custom_details": {"affected": affected, "regions": regions,
                           "first_failing_checks": list(page.first_failures)[:5],
                           "impact": page.impact, "tier": target.tier},
        "links": [{"href": page.link, "text": f"incident {page.incident_id}"}],
    }
    if page.started_at is not None:
        payload["timestamp"] = page.started_at.isoformat()
    return Notice(key=outbox_key(target, action, revision), channel="pagerduty",
                  recipient=target.routing_key, event_type=f"page.{action}", payload=payload,
                  ordering_key=f"incident-{page.incident_id}")


def escalation_channels(tier: int, settings: Settings) -> tuple[str, ...]:
    """On-call's extra Apprise URLs for a tier (`escalation_channels_tier<N>`)."""
    if tier == 1:
        return settings.escalation_channels_tier1
    return settings.escalation_channels_tier2


def _channel_id(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:12]


def escalation_resolve_prefix(url: str, dedup: str) -> str:
    """What every resolve of one alert sent to one escalation channel starts with.

    >>> escalation_resolve_prefix("ntfy://ntfy.example/oncall", "bellwether-incident-7")
    'ch:c5e0ad0360e6:incident-7:resolve'
    """
    return f"ch:{_channel_id(url)}:{resolve_prefix(dedup).removeprefix('pd:')}"


_CHANNEL_TYPES = {"trigger": "failure", "acknowledge": "warning", "resolve": "success"}


def escalation_notices(page: IncidentPage, target: PageTarget, action: str, revision: int,
                       settings: Settings) -> list[Notice]:
    """The same event for each escalation channel of the alert's tier, in the page lane
    (`apprise_page`). Keyed like the PagerDuty event, under the channel (not under `pd:`,
    so a reopened incident's withdrawal of an unsent PagerDuty resolve is not misled by
    them), and ordered per channel: a channel that is down holds up only its own messages,
    never a page.

    >>> from core.config import Settings
    >>> s = Settings(escalation_channels_tier1=("ntfy://ntfy.example/oncall",))
    >>> p = IncidentPage(7, "import unavailable", "major", 1, [], "https://bw/i/7")
    >>> [n.key for n in escalation_notices(p, PageTarget(dedup_key(7), "K1", 1),
    ...                                    "trigger", 2, s)]
    ['ch:c5e0ad0360e6:incident-7:trigger:2']
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown PagerDuty action {action!r}")
    regions = sorted({r for _, r, _ in page.components})
    affected = ", ".join(f"{c} in {r}: {state}" for c, r, state in page.components)
    verb = {"trigger": "PAGE", "acknowledge": "acknowledged", "resolve": "resolved"}[action]
    body = "\n".join(line for line in (
        f"{page.impact} impact, tier {target.tier}; " + (", ".join(regions) or "no region"),
        affected, page.link) if line)
    notices = []
    for url in escalation_channels(target.tier, settings):
        channel = _channel_id(url)
        notices.append(Notice(
            key=f"ch:{channel}:{outbox_key(target, action, revision).removeprefix('pd:')}",
            channel="apprise_page", recipient=url, event_type=f"page.{action}",
            payload={"title": f"[{verb}] {page.title}"[:250], "body": body,
                     "notify_type": _CHANNEL_TYPES[action], "dedup_key": target.dedup_key},
            ordering_key=f"incident-{page.incident_id}:channel-{channel}"))
    return notices


def page_notices(page: IncidentPage, action: str, revision: int,
                 settings: Settings) -> list[Notice]:
    """The event for an incident's first alert (routed by its tier), or none when that tier
    has no routing key: for callers that keep no stored targets (tests, benchmarks)."""
    target, _ = trigger_target(page, [], settings)
    revision = revision if action == "trigger" else 0
    return [page_notice(page, target, action, revision, settings)] if target else []
