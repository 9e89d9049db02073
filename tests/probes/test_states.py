"""Live state follows each fault kind: real probes at 1 s intervals from three locations.

Probes run through the real scheduler against the real commerce set; the evaluation job is
called while polling with a deadline, never after a fixed sleep.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from commerce import store as commerce_store
from commerce.faults import FaultKind, FaultSpec
from commerce.fleet import Fleet
from core import migrate
from core.clock import SystemClock
from core.config import Settings
from core.db import make_engine, make_session_factory, session_scope
from core.scheduler import JobContext
from probes import jobs, store
from probes.locations import DEFAULT_LOCATIONS, ProbeScheduler
from probes.runner import Credentials, RunContext
from probes.specs import default_catalogue
from probes.writer import DatabaseWriter
from tests.commerce.conftest import FaultInjector
from tests.support.databases import create_database, drop_database
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e
REGION = "australia-southeast1.gcp"
COMPONENTS = ("auth", "products", "carts")


class Watch:
    """Probes of one region running from three locations into a database of their own."""

    def __init__(self, fleet: Fleet, fleet_engine: Engine, engine: Engine) -> None:
        now = datetime.now(UTC)
        with session_scope(make_session_factory(fleet_engine)) as session:
            commerce_store.ensure_probe_product(session, REGION, now)
            credentials = Credentials(*commerce_store.probe_credentials(session, REGION, now),
                                      project_key=commerce_store.PROBE_PROJECT)
        self.probes = [replace(p, interval_s=1, timeout_s=2.0)
                       for p in default_catalogue([REGION]) if p.component in COMPONENTS]
        self.factory = make_session_factory(engine)
        clock = SystemClock()
        with session_scope(self.factory) as session:
            store.sync_probes(session, self.probes, clock.now())
        self.ctx = JobContext(replace(Settings(), confirmations=2, regions=(REGION,)), clock,
                              self.factory)
        self.writer = DatabaseWriter(self.factory, clock, period=0.1)
        contexts = [RunContext(loc, lambda region: fleet.routers[region].url,
                               lambda region: credentials, clock) for loc in DEFAULT_LOCATIONS]
        self.scheduler = ProbeScheduler(self.probes, contexts, self.writer, clock,
                                        is_cut=lambda loc, region: fleet.faults().partitioned(
                                            loc, region))

    def states(self) -> dict[str, str]:
        self.writer.flush()
        jobs.evaluate_states(self.ctx)
        with session_scope(self.factory) as session:
            return {c: row.state for (c, _), row in store.states(session).items()}

    def wait_for(self, expected: dict[str, str], timeout: float = 20) -> dict[str, str]:
        def matches() -> dict[str, str] | None:
            states = self.states()
            return states if all(states.get(c) == s for c, s in expected.items()) else None

        return wait_until(matches, timeout=timeout, interval=0.2, message=f"states {expected}")

    def recent(self, component: str, limit: int) -> list[tuple[str, bool]]:
        with session_scope(self.factory) as session:
            return [(r.location, r.ok)
                    for r in store.recent_checks(session, component, REGION, limit=limit)]

    def history(self) -> list[tuple[str, str, str]]:
        with session_scope(self.factory) as session:
            return [(c.component, c.from_state, c.to_state)
                    for c in reversed(store.state_history(session))]


@pytest.fixture(scope="module")
def watch(fleet: Fleet, engine: Engine,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watch]:
    url = create_database(Path(tmp_path_factory.mktemp("states")), "states")
    migrate.upgrade(url)
    own_engine = make_engine(url)
    watch = Watch(fleet, engine, own_engine)
    watch.writer.start()
    watch.scheduler.start()
    try:
        watch.wait_for(dict.fromkeys(COMPONENTS, "operational"))
        yield watch
    finally:
        watch.scheduler.stop()
        watch.writer.stop()
        own_engine.dispose()
        drop_database(url)


@pytest.fixture
def injector(fleet: Fleet, engine: Engine, watch: Watch) -> Iterator[FaultInjector]:
    faults = FaultInjector(fleet, engine)
    yield faults
    faults.clear_all()
    watch.wait_for(dict.fromkeys(COMPONENTS, "operational"))


SCENARIOS = {
    "region_down": (FaultSpec(FaultKind.REGION_DOWN, region=REGION),
                    dict.fromkeys(COMPONENTS, "major_outage")),
    "auth_down": (FaultSpec(FaultKind.AUTH_DOWN, region=REGION),
                  dict.fromkeys(COMPONENTS, "major_outage")),
    "service_down": (FaultSpec(FaultKind.SERVICE_DOWN, region=REGION, service="carts"),
                     {"carts": "major_outage", "products": "operational"}),
    "database_down": (FaultSpec(FaultKind.DATABASE_DOWN, region=REGION),
                      {"carts": "major_outage", "products": "operational",
                       "auth": "operational"}),
    "latency": (FaultSpec(FaultKind.LATENCY, region=REGION, service="products", value=1200),
                {"products": "degraded_performance", "carts": "operational"}),
    "error_rate": (FaultSpec(FaultKind.ERROR_RATE, region=REGION, service="products",
                             value=0.4),
                   {"products": "partial_outage"}),
}


@pytest.mark.parametrize("kind", sorted(SCENARIOS))
def test_a_fault_moves_the_state_and_clearing_it_brings_it_back(
        kind: str, watch: Watch, injector: FaultInjector) -> None:
    spec, expected = SCENARIOS[kind]
    injector.inject(spec)
    watch.wait_for(expected, timeout=30)


def test_a_zone_failure_absorbed_by_the_router_stays_operational(
        watch: Watch, injector: FaultInjector) -> None:
    injector.inject(FaultSpec(FaultKind.ZONE_DOWN, region=REGION, zone="b"))
    changes_before = len(watch.history())
    counted_before = len(watch.recent("products", limit=1000))
    wait_until(lambda: len(watch.recent("products", limit=1000)) >= counted_before + 15,
               timeout=30, message="fifteen more checks")
    assert watch.states() == dict.fromkeys(COMPONENTS, "operational")
    assert len(watch.history()) == changes_before


def test_one_partitioned_location_never_makes_a_component_fail(
        watch: Watch, injector: FaultInjector) -> None:
    injector.inject(FaultSpec(FaultKind.PARTITION, region=REGION, location="loc-a"))
    wait_until(lambda: any(loc == "loc-a" and not ok for loc, ok in watch.recent("auth", 12)),
               timeout=20, message="loc-a failing")
    for _ in range(5):
        assert set(watch.states().values()) == {"operational"}
