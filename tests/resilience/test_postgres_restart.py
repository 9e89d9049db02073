"""PostgreSQL restarted while probes run: checks are kept while it is away and written once
it is back, none lost, none twice (its own throwaway cluster, real probes)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select

from commerce import store as commerce_store
from commerce.fleet import Fleet
from core import migrate
from core.clock import SystemClock
from core.db import make_engine, make_session_factory, session_scope
from probes.checks import CheckResult
from probes.locations import ProbeScheduler
from probes.models import CheckRow
from probes.runner import Credentials, RunContext
from probes.specs import default_catalogue
from probes.writer import DatabaseWriter
from tests.support.pg_cluster import PgCluster
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e
REGION = "europe-west1.gcp"


class Recorder:
    """A sink that remembers every check id before handing the check on."""

    def __init__(self, inner: DatabaseWriter) -> None:
        self.inner = inner
        self.ids: list[str] = []

    def put(self, checks: Sequence[CheckResult]) -> None:
        self.ids.extend(c.id for c in checks)
        self.inner.put(checks)


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    cluster = PgCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        cluster.remove()


def stored(engine: Engine) -> list[str]:
    with session_scope(make_session_factory(engine)) as session:
        return list(session.scalars(select(CheckRow.id)))


def test_checks_survive_a_postgres_restart(cluster: PgCluster, fleet: Fleet,
                                           engine: Engine) -> None:
    migrate.upgrade(cluster.url)
    own = make_engine(cluster.url)
    clock = SystemClock()
    now = datetime.now(UTC)
    with session_scope(make_session_factory(engine)) as session:
        commerce_store.ensure_probe_product(session, REGION, now)
        credentials = Credentials(*commerce_store.probe_credentials(session, REGION, now),
                                  project_key=commerce_store.PROBE_PROJECT)
    writer = DatabaseWriter(make_session_factory(own), clock, period=0.1)
    recorder = Recorder(writer)
    probes = [replace(p, interval_s=1) for p in default_catalogue([REGION])
              if p.component in ("auth", "products")]
    contexts = [RunContext(loc, lambda r: fleet.routers[r].url, lambda r: credentials, clock)
                for loc in ("loc-a", "loc-b")]
    scheduler = ProbeScheduler(probes, contexts, recorder, clock, is_cut=lambda _l, _r: False)
    writer.start()
    scheduler.start()
    try:
        wait_until(lambda: len(stored(own)) >= 8, timeout=30, message="checks stored")
        cluster.stop()
        before = len(recorder.ids)
        stopped_at = clock.monotonic()
        wait_until(lambda: len(recorder.ids) >= before + 8 and writer.failures > 0,
                   timeout=30, message="checks made while PostgreSQL is down")
        assert writer.pending > 0
        kept = writer.pending
        cluster.start()
        down_s = clock.monotonic() - stopped_at
        wait_until(lambda: writer.pending == 0 and writer.failures > 0, timeout=30,
                   message="the kept checks written")
    finally:
        scheduler.stop()
        writer.stop()
    ids = stored(own)
    with session_scope(make_session_factory(own)) as session:
        assert session.scalar(select(func.count()).select_from(CheckRow)) == len(ids)
    own.dispose()
    assert sorted(ids) == sorted(set(recorder.ids))
    assert len(ids) == len(recorder.ids)
    print(f"PostgreSQL down {down_s:.1f} s; {kept} checks kept meanwhile; {len(ids)} made, "
          f"{len(ids)} stored once each ({before} before the stop)")
