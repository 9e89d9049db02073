"""What a drill learns from the instance before it starts: the probe interval it times
against, whether paging is configured per tier, and whether anyone subscribed. Without
these a drill would print a bare "0 pages" where the truth is "paging is off"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from commerce.catalog import tier_of
from core.errors import BellwetherError
from core.remote import RemoteApi

ROUTING_SETTINGS = {1: "BELLWETHER_PAGERDUTY_ROUTING_KEY_TIER1",
                    2: "BELLWETHER_PAGERDUTY_ROUTING_KEY_TIER2"}


@dataclass(frozen=True, slots=True)
class InstanceFacts:
    """The instance as the drill sees it. `paging` maps a tier to whether its routing key is
    set (None: the server does not say); `subscribers` counts live ones by kind."""

    interval_s: float
    timeout_s: float = 10.0
    paging: Mapping[int, bool | None] = field(default_factory=dict)
    subscribers: Mapping[str, int] | None = None
    #: How long the first subscriber notice waits after the page (a drill waits that too).
    notice_settle_s: float = 0.0
    #: How soon after resolving a root failing again reopens its incident: a drill starts
    #: that long after the last incident resolved, so it is an episode of its own.
    incident_reopen_s: float = 0.0

    def paging_gap(self, component: str | None) -> str | None:
        """The line to print when the tier that `component` pages cannot be paged."""
        tier = tier_of(component) if component else 1
        if self.paging.get(tier) is False:
            return f"paging is not configured: {ROUTING_SETTINGS[tier]} unset"
        return None

    def notice_gap(self) -> str | None:
        if self.subscribers is not None and sum(self.subscribers.values()) == 0:
            return "no subscribers: notices not measured"
        return None


def interval_of(probes: Sequence[Mapping[str, Any]], region: str) -> tuple[float, float] | None:
    """The slowest enabled probe interval (and timeout) in `region`: a drill waits on the
    slowest pair it watches.

    >>> interval_of([{"region": "eu", "interval_s": 5, "timeout_s": 2, "enabled": True},
    ...              {"region": "eu", "interval_s": 60, "enabled": False}], "eu")
    (5.0, 2.0)
    """
    mine = [p for p in probes if p.get("region") == region and p.get("enabled", True)]
    if not mine:
        return None
    return (max(float(p["interval_s"]) for p in mine),
            max(float(p.get("timeout_s", 10.0)) for p in mine))


def facts_from(paging: Mapping[str, Any] | None, probes: Sequence[Mapping[str, Any]],
               region: str, fallback_interval_s: float) -> InstanceFacts:
    """Put the answers of `/api/v1/paging` (None: an older server) and `/api/v1/probes`
    together; the interval comes from the probes, else the server's default, else the
    caller's."""
    timing = interval_of(probes, region)
    default = float(paging["probe_interval_s"]) if paging else fallback_interval_s
    interval, timeout = timing if timing else (default, 10.0)
    if paging is None:
        return InstanceFacts(interval, timeout)
    tiers = paging.get("pagerduty", {})
    return InstanceFacts(
        interval, timeout,
        paging={1: bool(tiers.get("tier1", {}).get("configured")),
                2: bool(tiers.get("tier2", {}).get("configured"))},
        subscribers={str(k): int(v) for k, v in paging.get("subscribers", {}).items()},
        notice_settle_s=float(paging.get("notice_settle_s", 0.0)),
        incident_reopen_s=float(paging.get("incident_reopen_s", 0.0)))


def read_facts(api: RemoteApi, region: str, fallback_interval_s: float) -> InstanceFacts:
    """Ask the instance (an older one without `/api/v1/paging` gives what it can)."""
    try:
        paging = api.call("GET", "/api/v1/paging")
    except BellwetherError:
        paging = None
    probes = api.call("GET", "/api/v1/probes")["probes"]
    return facts_from(paging, probes, region, fallback_interval_s)
