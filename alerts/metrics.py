"""`/metrics` for the outbox: rows waiting per lane and status, dead letters per channel and
PagerDuty's failed delivery attempts, read from `outbox` with three aggregate queries
(alerts.store), at most once per `ttl_s`, so any web process answers for every
dispatcher."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from alerts import store
from alerts.outbox import CHANNELS, NOTICE_LANE, PAGE_LANE
from core.clock import Clock
from core.db import SessionFactory, read_scope
from core.metrics import FamilyCollector, cached

LANES = {PAGE_LANE: "pages", NOTICE_LANE: "notices"}
WAITING = ("pending", "sending")


def outbox_families(counts: store.OutboxCounts) -> Iterable[Metric]:
    depth = GaugeMetricFamily("bellwether_outbox_rows",
                              "Outbox rows not yet delivered, by lane (pages, notices) and "
                              "status (pending: waiting or retrying; sending: being attempted)",
                              labels=["lane", "status"])
    for lane, name in LANES.items():
        for status in WAITING:
            depth.add_metric([name, status], float(counts.waiting.get((lane, status), 0)))
    dead = GaugeMetricFamily("bellwether_outbox_dead_letters",
                             "Outbox rows given up on (a permanent failure or too many "
                             "attempts), by channel", labels=["channel"])
    for channel in sorted({*CHANNELS, *counts.dead}):
        dead.add_metric([channel], float(counts.dead.get(channel, 0)))
    failures = CounterMetricFamily("bellwether_pagerduty_failed_attempts",
                                   "PagerDuty deliveries attempted that failed (retried or "
                                   "given up)")
    failures.add_metric([], float(counts.pagerduty_failed_attempts))
    return [depth, dead, failures]


def watch_outbox(registry: CollectorRegistry, session_factory: SessionFactory,
                 clock: Clock, ttl_s: float = 5.0) -> None:
    def read() -> store.OutboxCounts:
        with read_scope(session_factory) as session:
            return store.outbox_counts(session)

    counts = cached(read, clock, ttl_s)
    registry.register(FamilyCollector(lambda: outbox_families(counts())))
