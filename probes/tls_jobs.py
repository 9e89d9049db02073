"""TLS expiry's edges: the job that pages on-call as certificates near expiry, and the
`bellwether_tls_days_left` gauge on `/metrics`. The decisions are in `probes.tls`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session

from alerts.outbox import enqueue
from core.clock import Clock
from core.db import SessionFactory, session_scope
from core.scheduler import Job, JobContext
from probes import store
from probes.tls import Reading, TlsProbe, decide, page_notices

#: Readings older than this (or than 3 of the probe's intervals, if longer) are stale.
FRESH = timedelta(days=2)
#: How many of a probe's newest checks a decision looks at: enough to see the certificate
#: before a renewal while the job runs, far fewer than a day of checks.
READINGS = 20


def _horizon(probe: TlsProbe, now: datetime) -> datetime:
    return now - max(FRESH, timedelta(seconds=3 * probe.interval_s))


def newest_certificates(session: Session, now: datetime) -> dict[TlsProbe, Reading]:
    """Each TLS probe's newest fresh reading (probes without one are left out)."""
    newest = {}
    for probe in store.tls_probes(session):
        readings = store.tls_readings(session, probe, _horizon(probe, now), limit=READINGS)
        if readings:
            newest[probe] = readings[0]
    return newest


def watch_certificates(ctx: JobContext) -> int:
    """Page on-call once per threshold a certificate reaches, and resolve the page when the
    certificate is renewed; how many outbox rows were new.

    Work on change: a probe is read again only when a check newer than the one the last
    pass decided on has arrived (`ctx.parts["tls_seen"]`), and a decision already enqueued
    by this process is not enqueued again (`ctx.parts["tls_sent"]`). Either memory lost
    (a restart, another worker) costs a read and a no-op enqueue: the outbox key makes
    each threshold of each certificate exactly once.
    """
    seen: dict[str, datetime] = ctx.parts.setdefault("tls_seen", {})
    sent: dict[str, str] = ctx.parts.setdefault("tls_sent", {})
    now, warn_days = ctx.clock.now(), ctx.settings.tls_warn_days
    routing_key = ctx.settings.pagerduty_routing_key_tier2
    new = 0
    with session_scope(ctx.session_factory) as session:
        for probe in store.tls_probes(session):
            last = seen.get(probe.name)
            if last is not None and not store.tls_readings(session, probe, last, limit=1):
                continue  # nothing new since the last decision
            readings = store.tls_readings(session, probe, _horizon(probe, now),
                                          limit=READINGS)
            if not readings:
                continue
            seen[probe.name] = readings[0].checked_at
            decision = decide(readings, warn_days)
            notices = [] if decision is None else page_notices(probe, decision, routing_key)
            if notices and sent.get(probe.name) != notices[0].key:
                new += enqueue(session, notices, now)
                sent[probe.name] = notices[0].key
    return new


class TlsCollector(Collector):
    """`bellwether_tls_days_left`: the days left on each TLS probe's newest certificate."""

    def __init__(self, read: Callable[[], Mapping[TlsProbe, Reading]]) -> None:
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("bellwether_tls_days_left",
                                   "Days until the certificate a TLS probe last saw expires",
                                   labels=["probe", "component", "region"])
        for probe, reading in sorted(self.read().items(), key=lambda item: item[0].name):
            family.add_metric([probe.name, probe.component, probe.region], reading.days_left)
        yield family


def watch_tls_days_left(registry: CollectorRegistry, session_factory: SessionFactory,
                        clock: Clock) -> None:
    """Export the gauge from `registry`, read from the database at each scrape."""

    def read() -> dict[TlsProbe, Reading]:
        with session_scope(session_factory) as session:
            return newest_certificates(session, clock.now())

    registry.register(TlsCollector(read))


JOBS = (
    Job("probes.tls", timedelta(seconds=10), watch_certificates,
        "page on-call (Tier 2, warning) as TLS certificates near expiry; resolve on renewal"),
)
