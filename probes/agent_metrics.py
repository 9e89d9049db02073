"""`/metrics` for remote agents: when each was last heard from and whether it is ok, silent
or stopped, read from `probe_agents` at each scrape (any web process answers the same)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from core.clock import Clock
from core.db import SessionFactory, session_scope
from probes import store
from probes.heartbeats import agent_status

STATUSES = ("ok", "silent", "stopped")


@dataclass(frozen=True, slots=True)
class AgentReading:
    name: str
    location: str
    last_seen_at: datetime
    status: str


class AgentCollector(Collector):
    """`bellwether_agent_last_seen_timestamp_seconds{agent,location}` and
    `bellwether_agent_status{agent,location,status}` (1 for the current one), so an alert
    can fire on a silent agent without Bellwether's own paging."""

    def __init__(self, read: Callable[[], list[AgentReading]]) -> None:
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        seen = GaugeMetricFamily("bellwether_agent_last_seen_timestamp_seconds",
                                 "Unix time an agent was last heard from (heartbeat or batch)",
                                 labels=["agent", "location"])
        status = GaugeMetricFamily("bellwether_agent_status",
                                   "1 for an agent's status: ok, silent (3 intervals without "
                                   "a word) or stopped (it said so)",
                                   labels=["agent", "location", "status"])
        for agent in self.read():
            seen.add_metric([agent.name, agent.location], agent.last_seen_at.timestamp())
            for name in STATUSES:
                status.add_metric([agent.name, agent.location, name],
                                  1.0 if name == agent.status else 0.0)
        yield seen
        yield status


def watch_agents(registry: CollectorRegistry, session_factory: SessionFactory, clock: Clock,
                 interval_s: int) -> None:
    """Export the agents' gauges from `registry`, read from the database at each scrape."""

    def read() -> list[AgentReading]:
        now = clock.now()
        with session_scope(session_factory) as session:
            return [AgentReading(row.name, row.location, row.last_seen_at,
                                 agent_status(row.last_seen_at, row.silent_since, now,
                                              interval_s))
                    for row in store.agents(session)]

    registry.register(AgentCollector(read))
