"""Silence is paged: a (component, region) that goes `no_data`, an agent that stops reporting.

One PagerDuty trigger per gap episode and one resolve when data returns, on the routing
key of the component's tier (agents: Tier 1, they blind every component). Each event's
outbox key is made of its dedup_key, which holds the gap's start, so one gap can never be
paged twice, and a later gap is a new alert (pure: the evaluation job enqueues these).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from alerts.outbox import Notice
from commerce.catalog import tier_of
from core.config import Settings
from probes.evaluate import FRESH_INTERVALS, State

NO_DATA = State.NO_DATA.value


@dataclass(frozen=True, slots=True)
class Change:
    """A pair's live state changed: from what, to what, and since when the old one held."""

    component: str
    region: str
    from_state: str
    to_state: str
    old_since: datetime
    at: datetime
    reason: str = ""


def nodata_dedup_key(component: str, region: str, gap_start: datetime) -> str:
    """`bellwether-nodata-<component>-<region>-<unix seconds of the gap start>`.

    >>> from datetime import UTC
    >>> nodata_dedup_key("search", "us-central1.gcp", datetime(2026, 1, 1, tzinfo=UTC))
    'bellwether-nodata-search-us-central1.gcp-1767225600'
    """
    return f"bellwether-nodata-{component}-{region}-{int(gap_start.timestamp())}"


def agent_dedup_key(name: str, silent_since: datetime) -> str:
    return f"bellwether-agent-silent-{name}-{int(silent_since.timestamp())}"


def routing_key(tier: int, settings: Settings) -> str | None:
    """The tier's routing key; None (no page) when it is unset."""
    key = (settings.pagerduty_routing_key_tier1 if tier == 1
           else settings.pagerduty_routing_key_tier2)
    return key or None


def _notice(dedup_key: str, action: str, key: str, summary: str, component: str,
            group: str, started: datetime, details: dict[str, Any]) -> Notice:
    payload = {"action": action, "dedup_key": dedup_key, "summary": summary[:1024],
               "severity": "error", "source": f"bellwether evaluator ({group})"[:255],
               "component": component, "group": group, "class": "no_data",
               "timestamp": started.isoformat(), "custom_details": details}
    return Notice(key=f"pd:{dedup_key}:{action}", channel="pagerduty", recipient=key,
                  event_type=f"page.{action}", payload=payload, ordering_key=dedup_key)


def gap_notices(changes: list[Change], settings: Settings) -> list[Notice]:
    """A trigger for each pair that went `no_data`, a resolve for each that came back."""
    notices = []
    for change in changes:
        key = routing_key(tier_of(change.component), settings)
        if key is None or (change.to_state == NO_DATA) == (change.from_state == NO_DATA):
            continue
        entering = change.to_state == NO_DATA
        gap_start = change.at if entering else change.old_since
        details = {"component": change.component, "region": change.region,
                   "gap_started_at": gap_start.isoformat(), "reason": change.reason,
                   "state_before": change.from_state if entering else None,
                   "state_now": change.to_state}
        summary = (f"Bellwether cannot see {change.component} in {change.region}" if entering
                   else f"Bellwether sees {change.component} in {change.region} again")
        notices.append(_notice(nodata_dedup_key(change.component, change.region, gap_start),
                               "trigger" if entering else "resolve", key, summary,
                               change.component, change.region, gap_start, details))
    return notices


@dataclass(frozen=True, slots=True)
class AgentSeen:
    name: str
    location: str
    last_seen_at: datetime
    silent_since: datetime | None


def agent_silence_after(settings: Settings) -> timedelta:
    """How long an agent may stay quiet: 3 probe intervals."""
    return timedelta(seconds=FRESH_INTERVALS * settings.probe_interval_s)


def agent_changes(agents: list[AgentSeen], now: datetime, settings: Settings,
                  ) -> tuple[dict[str, datetime | None], list[Notice]]:
    """Which agents became silent (name → now) or reported again (name → None), and their
    pages: one trigger per silence, its resolve when the agent is back."""
    changes: dict[str, datetime | None] = {}
    notices = []
    key = routing_key(1, settings)
    quiet = agent_silence_after(settings)
    for agent in agents:
        silent = now - agent.last_seen_at > quiet
        if silent and agent.silent_since is None:
            changes[agent.name] = now
            action, since = "trigger", now
            summary = f"Bellwether agent {agent.name} (location {agent.location}) is silent"
        elif agent.silent_since is not None and (
                not silent or agent.last_seen_at > agent.silent_since):
            changes[agent.name] = None
            action, since = "resolve", agent.silent_since
            summary = f"Bellwether agent {agent.name} (location {agent.location}) reports again"
        else:
            continue
        if key is not None:
            notices.append(_notice(
                agent_dedup_key(agent.name, since), action, key, summary, "agent",
                agent.location, since,
                {"agent": agent.name, "location": agent.location,
                 "last_seen_at": agent.last_seen_at.isoformat()}))
    return changes, notices
