"""`/metrics` for error budgets: what is left of each (component, region)'s 30-day budget, in
seconds (Prometheus' base unit), as `reports.budgets` computes it for the burn-rate alerts
(day summaries plus index-only counts, never every rollup). Budgets move by whole minutes,
so they are read at most once per `ttl_s` (a minute)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric

from core.clock import Clock
from core.db import SessionFactory, read_scope
from core.metrics import FamilyCollector, cached
from reports.budgets import BudgetStatus, budget_statuses


def budget_families(statuses: Sequence[BudgetStatus]) -> Iterable[Metric]:
    labels = ["component", "region", "plan"]
    remaining = GaugeMetricFamily("bellwether_error_budget_remaining_seconds",
                                  "Downtime the last 30 days still allow against the strictest "
                                  "plan held in the region (whole minutes; negative: overspent)",
                                  labels=labels)
    budget = GaugeMetricFamily("bellwether_error_budget_seconds",
                               "Downtime the last 30 days allow in all (whole minutes)",
                               labels=labels)
    for status in statuses:
        line = status.line
        values = [line.component, line.region, status.plan]
        remaining.add_metric(values, float(line.budget_remaining_minutes * 60))
        budget.add_metric(values, float(line.budget_minutes * 60))
    return [remaining, budget]


def watch_budgets(registry: CollectorRegistry, session_factory: SessionFactory, clock: Clock,
                  regions: Sequence[str], ttl_s: float = 60.0) -> None:
    def read() -> list[BudgetStatus]:
        with read_scope(session_factory) as session:
            return budget_statuses(session, regions, clock.now())

    statuses = cached(read, clock, ttl_s)
    registry.register(FamilyCollector(lambda: budget_families(statuses())))
