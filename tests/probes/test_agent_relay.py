"""Detection across agents: a failure one agent ingests makes another location's agent check
the pair at once, through a different web process, not at its own next slot."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine, delete, select

from app import create_app
from commerce.fleet import Fleet
from core.clock import SystemClock
from core.config import Settings
from core.db import make_session_factory, session_scope
from core.models import Role
from core.servers import Listener, free_port
from probes import store
from probes.agent import Agent, AgentConfig
from probes.checks import CheckResult
from probes.locations import spread_offset
from probes.models import CheckRow, Probe, RecheckRow
from probes.specs import parse_probe
from tests.conftest import make_token
from tests.support.waiting import wait_until

REGION = "europe-west1.gcp"
HOURLY = 3600  # so long that within the test a location checks only at its first slot


def location_with_first_slot(probe: str, base: str, earliest_s: float, latest_s: float) -> str:
    """A location name whose first slot for `probe` comes `earliest_s` to `latest_s` after its
    agent starts (slots are spread by a hash of the names: `spread_offset`)."""
    return next(name for i in itertools.count()
                if earliest_s <= spread_offset(probe, name := f"{base}{i}", HOURLY) < latest_s)


@pytest.fixture
def webs(fleet: Fleet, migrated_url: str, tmp_path: Path) -> Iterator[list[Listener]]:
    """Two web processes' apps on loopback ports, sharing the session database."""
    apps: list[Flask] = []
    listeners = []
    for i in range(2):
        settings = replace(Settings(), data_dir=tmp_path / f"web-{i}",
                           database_url=migrated_url, http_port=0, secret_key="test-secret")
        apps.append(create_app(settings, parts={"fleet": fleet}))
        listeners.append(Listener(f"web-{i}", apps[-1]))
        listeners[-1].start()
    yield listeners
    for listener, app in zip(listeners, apps, strict=True):
        listener.stop()
        app.extensions["bellwether"].engine.dispose()


@pytest.fixture
def probe(engine: Engine, fleet: Fleet) -> Iterator[str]:
    """An hourly TCP probe of a component of its own, to a port nobody listens on."""
    name = f"relay-{uuid.uuid4().hex[:8]}"
    spec = parse_probe({"name": name, "component": name, "region": REGION, "kind": "tcp",
                        "target": f"127.0.0.1:{free_port()}", "interval_s": HOURLY,
                        "timeout_s": 5}, fleet.regions, source="api")
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        store.save_probe(session, spec, datetime.now(UTC))
    yield name
    with session_scope(factory) as session:
        session.execute(delete(Probe).where(Probe.name == name))
        session.execute(delete(RecheckRow).where(RecheckRow.component == name))


def stored_checks(engine: Engine, location: str) -> list[tuple[datetime, bool]]:
    with engine.connect() as conn:
        return [(at, ok) for at, ok in conn.execute(
            select(CheckRow.started_at, CheckRow.ok).where(CheckRow.location == location))]


@pytest.mark.e2e
def test_a_failure_ingested_from_one_location_makes_the_other_agent_check_the_pair_at_once(
        webs: list[Listener], engine: Engine, probe: str, tmp_path: Path) -> None:
    loc_a = location_with_first_slot(probe, f"{probe}-a", 0.0, 1.0)
    loc_b = location_with_first_slot(probe, f"{probe}-b", HOURLY / 2, HOURLY)
    token = make_token(engine, Role.AGENT, (loc_a, loc_b))
    made_by_b: list[CheckResult] = []
    agents = [
        Agent(AgentConfig(location=location, server=web.url, token=token,
                          spool_dir=tmp_path / location, patterns=(probe,),
                          drain_period_s=0.2, retry_cap_s=1.0, connect_timeout_s=20,
                          recheck_poll_s=0.5),
              SystemClock(), on_spooled=on_spooled)
        for location, web, on_spooled in [(loc_a, webs[0], None),
                                          (loc_b, webs[1], made_by_b.extend)]]
    try:
        for agent in agents:
            assert agent.start()
        started = datetime.now(UTC)
        slot_b = started + timedelta(seconds=spread_offset(probe, loc_b, HOURLY))

        wait_until(lambda: stored_checks(engine, loc_b), timeout=30,
                   message=f"a check from {loc_b}, whose own slot is at {slot_b:%H:%M:%S}")
        b = agents[1]
        assert b.relayed >= 1
        assert b.scheduler is not None
        assert b.scheduler.rechecks >= 1
    finally:
        left = [agent.stop() for agent in agents]
    assert left == [0, 0]
    [(a_at, a_ok), *_] = sorted(stored_checks(engine, loc_a))
    b_at, b_ok = min(stored_checks(engine, loc_b))
    assert (a_ok, b_ok) == (False, False)
    assert a_at < b_at < slot_b
    assert made_by_b[0].intended_at < slot_b  # a confirmation, not a slot of its own
    with engine.connect() as conn:
        asked_by = set(conn.scalars(select(RecheckRow.location)
                                    .where(RecheckRow.component == probe)))
    assert loc_a in asked_by
