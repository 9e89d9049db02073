"""Silence is paged: by root, once per gap episode, never for a blip or a graceful stop.

A pair (component, region) goes `no_data` without a quorum's fresh checks; who is paged
for it depends on why (`root_of`), so one stall is one page, not one per pair:
- `pipeline`: no check at all has reached the database for longer than the freshness
  window: Bellwether's own pipeline is behind ("Bellwether is not receiving checks");
- `agents`: every location the pair misses is an agent that is silent (paged as such) or
  stopped on purpose (not paged at all);
- `region`: the rest, grouped like outages: one page per region gap episode ("Bellwether
  cannot see search, orders in us-central1.gcp"); pairs join an open one without a new
  trigger and one resolve follows when every pair of the region has data again. A pair
  is paged only once its gap outlasted a grace of one probe interval (blips are not).
The dedup_keys hold the episode's start, so an episode is paged once and a later one is a
new alert (pure: the evaluation job reads the history and enqueues these).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from alerts.outbox import Notice
from core.config import Settings
from probes.evaluate import FRESH_INTERVALS, State
from probes.heartbeats import is_stopped

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


PIPELINE = "pipeline"
AGENTS = "agents"
REGION = "region"


@dataclass(frozen=True, slots=True)
class Gap:
    """A pair that is `no_data` now: since when, how long a blip may last, and which of
    the locations expected to check it (stopped ones included) sent nothing fresh."""

    component: str
    region: str
    since: datetime
    grace: timedelta
    missing: frozenset[str]


@dataclass(frozen=True, slots=True)
class GapChange:
    """A pair of one region entering (`entered`) or leaving `no_data` at `at`."""

    component: str
    at: datetime
    entered: bool


def root_of(gap: Gap, stalled: bool, absent: Collection[str]) -> str:
    """Why a pair has no data: the pipeline stalled, only absent agents' locations (silent,
    paged on their own, or stopped on purpose) are missing, or something in its region.

    >>> from datetime import UTC
    >>> gap = Gap("search", "eu", datetime(2026, 1, 1, tzinfo=UTC), timedelta(seconds=30),
    ...           frozenset({"loc-b"}))
    >>> root_of(gap, True, ()), root_of(gap, False, {"loc-b"}), root_of(gap, False, ())
    ('pipeline', 'agents', 'region')
    """
    if stalled:
        return PIPELINE
    if gap.missing and gap.missing <= set(absent):
        return AGENTS
    return REGION


def episode_start(changes: Sequence[GapChange], open_now: Collection[str]) -> datetime | None:
    """When the region's current (or just ended) gap episode began: walking back from now,
    the last moment none of its pairs was `no_data` (None without history). A pass that
    ends one pair's gap and starts another's continues the episode.

    >>> from datetime import UTC
    >>> t = [datetime(2026, 1, 1, 0, m, tzinfo=UTC) for m in range(4)]
    >>> history = [GapChange("a", t[0], True), GapChange("b", t[1], True),
    ...            GapChange("a", t[2], False), GapChange("b", t[3], False)]
    >>> episode_start(history[:3], {"b"}) == t[0], episode_start(history, ()) == t[0]
    (True, True)
    """
    open_ = set(open_now)
    earliest = None
    for change in sorted(changes, key=lambda c: (c.at, not c.entered), reverse=True):
        earliest = change.at
        if change.entered:
            open_.discard(change.component)
            if not open_:
                return change.at
        else:
            open_.add(change.component)
    return earliest


def region_dedup_key(region: str, tier: int, start: datetime) -> str:
    """`bellwether-nodata-<region>-<unix seconds of the episode start>` (Tier 2: `-tier2-`).

    >>> from datetime import UTC
    >>> region_dedup_key("us-central1.gcp", 1, datetime(2026, 1, 1, tzinfo=UTC))
    'bellwether-nodata-us-central1.gcp-1767225600'
    """
    middle = "" if tier == 1 else f"-tier{tier}"
    return f"bellwether-nodata-{region}{middle}-{int(start.timestamp())}"


def pipeline_dedup_key(newest_check: datetime) -> str:
    """The stall's identity: the newest check received before it (nothing arrives during
    it, so every pass of one stall names the same)."""
    return f"bellwether-nodata-pipeline-{int(newest_check.timestamp())}"


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


def is_pageable(gap: Gap, now: datetime, quiet_from: datetime | None = None) -> bool:
    """Whether a gap outlasted its grace (counted from the end of a stall, if later)."""
    begun = gap.since if quiet_from is None else max(gap.since, quiet_from)
    return now - begun >= gap.grace


def region_trigger(region: str, tier: int, start: datetime, components: Sequence[str],
                   settings: Settings) -> Notice | None:
    """The page of a region's gap episode ("Bellwether cannot see search, orders in …")."""
    key = routing_key(tier, settings)
    if key is None:
        return None
    names = ", ".join(sorted(components))
    return _notice(region_dedup_key(region, tier, start), "trigger", key,
                   f"Bellwether cannot see {names} in {region}", ",".join(sorted(components)),
                   region, start, {"region": region, "components": sorted(components),
                                   "gap_started_at": start.isoformat()})


def region_resolve(region: str, tier: int, start: datetime, settings: Settings,
                   ) -> Notice | None:
    key = routing_key(tier, settings)
    if key is None:
        return None
    return _notice(region_dedup_key(region, tier, start), "resolve", key,
                   f"Bellwether sees every component in {region} again", "no_data", region,
                   start, {"region": region, "gap_started_at": start.isoformat()})


def pipeline_notice(action: str, newest_check: datetime, now: datetime,
                    settings: Settings) -> Notice | None:
    """One page for a stall of Bellwether's own pipeline, whatever it blinds (Tier 1)."""
    key = routing_key(1, settings)
    if key is None:
        return None
    summary = ("Bellwether is not receiving checks" if action == "trigger"
               else "Bellwether receives checks again")
    return _notice(pipeline_dedup_key(newest_check), action, key, summary, "pipeline",
                   "bellwether", newest_check,
                   {"newest_check_received_at": newest_check.isoformat(),
                    "seconds_without_checks": round((now - newest_check).total_seconds(), 1)})


@dataclass(frozen=True, slots=True)
class AgentSeen:
    name: str
    location: str
    last_seen_at: datetime
    silent_since: datetime | None


#: The least grace past the 3 intervals before a silent agent is paged: a heartbeat is a
#: write, and one held up by a busy database (a web write waits up to 2 s, then the agent
#: tries again at its next interval) is not an agent gone.
AGENT_PAGE_GRACE_S = 5.0


def agent_silence_after(settings: Settings) -> timedelta:
    """How long an agent may stay quiet before it is marked silent and paged: 3 probe
    intervals (when it is shown `silent`), then one more interval of grace, at least
    `AGENT_PAGE_GRACE_S`, as region gaps are paged only past a grace. At 1 s probes on a
    loaded machine a live agent was paged for a one-second silence (chaos campaign)."""
    interval = settings.probe_interval_s
    return timedelta(seconds=FRESH_INTERVALS * interval + max(interval, AGENT_PAGE_GRACE_S))


@dataclass(frozen=True, slots=True)
class AgentChange:
    """An agent's `silent_since` to set (None: clear), with the page that goes with it; the
    row is changed only if it still reads as `seen` (a heartbeat may have come meanwhile)."""

    seen: AgentSeen
    silent_since: datetime | None
    notice: Notice | None


def _agent_notice(agent: AgentSeen, action: str, since: datetime,
                  settings: Settings) -> Notice | None:
    key = routing_key(1, settings)
    if key is None:
        return None
    summary = (f"Bellwether agent {agent.name} (location {agent.location}) is silent"
               if action == "trigger" else
               f"Bellwether agent {agent.name} (location {agent.location}) reports again")
    return _notice(agent_dedup_key(agent.name, since), action, key, summary, "agent",
                   agent.location, since,
                   {"agent": agent.name, "location": agent.location,
                    "last_seen_at": agent.last_seen_at.isoformat()})


def agent_changes(agents: list[AgentSeen], now: datetime, settings: Settings,
                  ) -> list[AgentChange]:
    """Which agents became silent (since now) or reported again (cleared), and their pages:
    one trigger per silence, its resolve when the agent is back. An agent that said it
    was stopping is neither: a graceful stop is not silence."""
    changes = []
    quiet = agent_silence_after(settings)
    for agent in agents:
        if is_stopped(agent.last_seen_at, agent.silent_since):
            continue
        silent = now - agent.last_seen_at > quiet
        if silent and agent.silent_since is None:
            changes.append(AgentChange(agent, now, _agent_notice(agent, "trigger", now,
                                                                 settings)))
        elif agent.silent_since is not None and (
                not silent or agent.last_seen_at > agent.silent_since):
            changes.append(AgentChange(agent, None, _agent_notice(
                agent, "resolve", agent.silent_since, settings)))
    return changes


def stop_notices(agent: AgentSeen | None, settings: Settings) -> list[Notice]:
    """An agent stopping on purpose while paged as silent: that page is resolved now (the
    stop replaces the silence, so no later pass would)."""
    if agent is None or agent.silent_since is None or is_stopped(agent.last_seen_at,
                                                                  agent.silent_since):
        return []
    notice = _agent_notice(agent, "resolve", agent.silent_since, settings)
    return [notice] if notice is not None else []
