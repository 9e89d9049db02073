"""Bellwether's own Prometheus metrics: probe outcomes, scheduler lag, ingest, spool, state.

One registry per running app (never prometheus_client's global one), so tests and two
instances in one process never share counters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from probes.checks import CheckResult
from probes.evaluate import State

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)


class StateCollector(Collector):
    """`bellwether_component_state`: 1 for the current state of each (component, region);
    the states include `no_data` (no fresh checks from a quorum of locations)."""

    def __init__(self, read_states: Callable[[], dict[tuple[str, str], str]]) -> None:
        self.read_states = read_states

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("bellwether_component_state",
                                   "1 for the live state a component has in a region",
                                   labels=["component", "region", "state"])
        for (component, region), current in sorted(self.read_states().items()):
            for state in State:
                family.add_metric([component, region, state.value],
                                  1.0 if state.value == current else 0.0)
        yield family


class JobRunCollector(Collector):
    """`bellwether_job_last_run_timestamp_seconds{job}`: when each job last ran, from
    `job_runs` (any process's run), so an alert can fire when evaluation stops."""

    def __init__(self, read_runs: Callable[[], dict[str, datetime]]) -> None:
        self.read_runs = read_runs

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("bellwether_job_last_run_timestamp_seconds",
                                   "Unix time of the last run of a background job",
                                   labels=["job"])
        for job, at in sorted(self.read_runs().items()):
            family.add_metric([job], at.timestamp())
        yield family


class ProbeMetrics:
    """The metric families and the functions that feed them."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        labels = ["component", "region", "location"]
        self.success = Gauge("bellwether_probe_success",
                             "1 when the last check passed, 0 when it failed", labels,
                             registry=self.registry)
        self.duration = Histogram("bellwether_probe_duration_seconds",
                                  "How long checks took", labels, buckets=DURATION_BUCKETS,
                                  registry=self.registry)
        self.checks = Counter("bellwether_probe_checks", "Checks run, by outcome",
                              [*labels, "outcome"], registry=self.registry)
        self.lag = Histogram("bellwether_scheduler_lag_seconds",
                             "Delay between a check's planned and actual start",
                             buckets=LAG_BUCKETS, registry=self.registry)
        self.skipped = Counter("bellwether_scheduler_skipped_slots",
                               "Check slots skipped or missed (they count as no data)",
                               registry=self.registry)
        self.late = Counter("bellwether_scheduler_late_checks",
                            "Checks that waited for a free runner slot longer than a tenth "
                            "of their interval (the location is saturated)",
                            registry=self.registry)
        self.ingested = Counter("bellwether_ingest_checks",
                                "Checks received through /api/v1/ingest, by result",
                                ["result"], registry=self.registry)
        self.spooled = Counter("bellwether_agent_spooled_checks",
                               "Checks an agent wrote to its disk spool", ["location"],
                               registry=self.registry)
        self.drained = Counter("bellwether_agent_drained_checks",
                               "Checks an agent delivered from its disk spool", ["location"],
                               registry=self.registry)

    def observe_check(self, check: CheckResult, lag_s: float) -> None:
        self.observe(check.component, check.region, check.location, check.ok,
                     check.latency_ms, lag_s)

    def observe(self, component: str, region: str, location: str, ok: bool,
                latency_ms: float, lag_s: float) -> None:
        """One check's outcome; also what a probe shard's process reports (probes.shards)."""
        labels = (component, region, location)
        self.success.labels(*labels).set(1.0 if ok else 0.0)
        self.duration.labels(*labels).observe(latency_ms / 1000)
        self.checks.labels(*labels, "ok" if ok else "failed").inc()
        self.lag.observe(max(0.0, lag_s))

    def watch_states(self, read_states: Callable[[], dict[tuple[str, str], str]]) -> None:
        self.registry.register(StateCollector(read_states))

    def watch_job_runs(self, read_runs: Callable[[], dict[str, datetime]]) -> None:
        self.registry.register(JobRunCollector(read_runs))
