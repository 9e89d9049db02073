"""`/metrics` for incidents: how many are open by impact and origin, and how many were ever
opened by origin, read from `incidents` with two aggregate queries (status.store), at most
once per `ttl_s` (any web process answers the same)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from core.clock import Clock
from core.db import SessionFactory, read_scope
from core.metrics import FamilyCollector, cached
from status import store
from status.incidents import Impact, Origin

Counts = tuple[dict[tuple[str, str], int], dict[str, int]]


def incident_families(counts: Counts) -> Iterable[Metric]:
    """Every impact × origin is present (0 when none), so an alert on it never lacks data."""
    open_by, opened_by = counts
    open_family = GaugeMetricFamily("bellwether_incidents_open",
                                    "Incidents not yet resolved, by impact and origin "
                                    "(automatic, declared, burn_rate)",
                                    labels=["impact", "origin"])
    for impact in Impact:
        for origin in Origin:
            open_family.add_metric([impact.value, origin.value],
                                   float(open_by.get((impact.value, origin.value), 0)))
    opened = CounterMetricFamily("bellwether_incidents_opened",
                                 "Incidents opened since the database was created, by origin",
                                 labels=["origin"])
    for origin in Origin:
        opened.add_metric([origin.value], float(opened_by.get(origin.value, 0)))
    return [open_family, opened]


def watch_incidents(registry: CollectorRegistry, session_factory: SessionFactory,
                    clock: Clock, ttl_s: float = 5.0) -> None:
    def read() -> Counts:
        with read_scope(session_factory) as session:
            return store.incident_counts(session)

    counts = cached(read, clock, ttl_s)
    registry.register(FamilyCollector(lambda: incident_families(counts())))
