"""The remote agent against a real server: it spools while the server is away, drains when it
is back, and every check it made is stored exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, select

from app import create_app, main
from commerce.fleet import Fleet
from core.clock import SystemClock
from core.config import Settings
from core.db import make_session_factory, session_scope
from core.errors import BellwetherError
from core.models import Role
from core.servers import Listener, free_port
from probes import store
from probes.agent import (
    Agent,
    AgentConfig,
    IngestSender,
    ServerUnreachable,
    saturation_note,
)
from probes.checks import CheckResult
from probes.locations import Shard
from probes.models import Agent as AgentRow
from probes.models import CheckRow, Probe
from probes.specs import parse_probe
from probes.spool import DeliveryError, Spool
from tests.conftest import make_token
from tests.support.processes import ROOT
from tests.support.waiting import wait_until

REGION = "europe-west1.gcp"


@pytest.fixture
def web(fleet: Fleet, migrated_url: str, tmp_path: Path) -> Iterator[Listener]:
    """The server's web app on a loopback port, sharing the session database and fleet."""
    settings = replace(Settings(), data_dir=tmp_path / "server", database_url=migrated_url,
                       http_port=0, secret_key="test-secret")
    app = create_app(settings, parts={"fleet": fleet})
    listener = Listener("web", app)
    listener.start()
    yield listener
    listener.stop()
    app.extensions["bellwether"].engine.dispose()


@pytest.fixture
def prefix(engine: Engine, fleet: Fleet) -> Iterator[str]:
    """Two probes at 1 s of a component of their own: an HTTP call with a token, a TCP connect."""
    prefix = f"agent-{uuid.uuid4().hex[:8]}"
    regions = fleet.regions
    probes = [
        parse_probe({"name": f"{prefix}.products", "component": prefix, "region": REGION,
                     "interval_s": 1, "timeout_s": 5,
                     "steps": [{"method": "GET", "path": "/{project}/products?limit=5",
                                "auth": "token", "expect": {"json_field": "results"}}]},
                    regions, source="api"),
        parse_probe({"name": f"{prefix}.router", "component": prefix, "region": REGION,
                     "kind": "tcp", "target": f"127.0.0.1:{fleet.routers[REGION].port}",
                     "interval_s": 1, "timeout_s": 5}, regions, source="api"),
    ]
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        for probe in probes:
            store.save_probe(session, probe, datetime.now(UTC))
    yield prefix
    with session_scope(factory) as session:
        session.execute(delete(Probe).where(Probe.name.startswith(f"{prefix}.")))


@pytest.fixture
def agent_token(engine: Engine, prefix: str) -> str:
    """An agent token issued for the locations these tests' agents run as."""
    return make_token(engine, Role.AGENT, (f"{prefix}-loc", f"{prefix}-cli"))


def stored_counts(engine: Engine, location: str) -> dict[str, int]:
    """Check id → how many rows the server holds for it, for one location's checks."""
    with engine.connect() as conn:
        rows = conn.execute(select(CheckRow.id, func.count()).where(CheckRow.location == location)
                            .group_by(CheckRow.id))
        return {check_id: count for check_id, count in rows}


def agent_config(server: str, token: str, prefix: str, spool_dir: Path,
                 **overrides: Any) -> AgentConfig:
    config = AgentConfig(location=f"{prefix}-loc", server=server, token=token,
                         spool_dir=spool_dir, patterns=(f"{prefix}.*",), drain_period_s=0.2,
                         retry_cap_s=1.0, connect_timeout_s=20, segment_bytes=2048)
    return replace(config, **overrides)


@pytest.mark.e2e
def test_the_agent_spools_while_the_server_is_down_and_drains_without_loss_or_duplicates(
        web: Listener, engine: Engine, agent_token: str, prefix: str, tmp_path: Path) -> None:
    produced: list[str] = []
    said: list[str] = []
    config = agent_config(web.url, agent_token, prefix, tmp_path / "spool")
    agent = Agent(config, SystemClock(), say=said.append,
                  on_spooled=lambda checks: produced.extend(c.id for c in checks))
    try:
        assert agent.start()
        assert sorted(p.name for p in agent.catalogue.probes) == [f"{prefix}.products",
                                                                  f"{prefix}.router"]
        wait_until(lambda: len(stored_counts(engine, config.location)) >= 4, timeout=20,
                   message="the first checks stored")

        web.stop()
        down_at = len(produced)
        wait_until(lambda: len(produced) >= down_at + 10
                   and len(agent.spool.sealed_segments) >= 2, timeout=20,
                   message="checks piling up in the spool")
        spooled_while_down = agent.spool.pending_checks
        segments_while_down = len(agent.spool.sealed_segments)
        assert spooled_while_down >= 10
        assert agent.drainer.failed_passes > 0

        web.start()
        wait_until(lambda: agent.spool.pending_checks == 0, timeout=30,
                   message="the spool drained")
        drained_after = agent.drainer.sent
    finally:
        left = agent.stop()

    assert left == 0
    counts = stored_counts(engine, config.location)
    assert len(produced) == len(set(produced))
    assert set(counts) == set(produced), "every check stored, none that the agent did not make"
    assert set(counts.values()) == {1}
    ok = [row for row in _rows(engine, config.location) if row.ok]
    assert {row.probe for row in ok} == {f"{prefix}.products", f"{prefix}.router"}
    registry = agent.metrics.registry
    labels = {"location": config.location}
    assert registry.get_sample_value("bellwether_agent_spooled_checks_total",
                                     labels) == len(produced)
    assert (registry.get_sample_value("bellwether_agent_drained_checks_total", labels)
            or 0) >= len(produced)
    assert any("cannot deliver checks" in line for line in said)
    assert any(line.startswith("drained ") for line in said)
    print(f"\nagent: {len(produced)} checks made; {spooled_while_down} spooled in "
          f"{segments_while_down} sealed segments while the server was down; "
          f"{drained_after} delivered in all; {agent.drainer.failed_passes} failed passes; "
          f"stored once each: {len(counts)}")


def _rows(engine: Engine, location: str) -> Sequence[Any]:
    with engine.connect() as conn:
        return conn.execute(select(CheckRow.probe, CheckRow.ok)
                            .where(CheckRow.location == location)).all()


class SendThenCrash:
    """Delivers the batch, then fails as if the agent died before deleting the segment."""

    def __init__(self, inner: IngestSender) -> None:
        self.inner = inner

    def send(self, checks: Sequence[Mapping[str, Any]]) -> int:
        self.inner.send(checks)
        raise DeliveryError("crashed between send and delete")


@pytest.mark.e2e
def test_a_crash_between_send_and_delete_sends_again_without_duplicates(
        web: Listener, engine: Engine, tmp_path: Path) -> None:
    location = f"crash-{uuid.uuid4().hex[:8]}"
    agent_token = make_token(engine, Role.AGENT, (location,))
    now = datetime.now(UTC)
    checks = [CheckResult(probe="p", component="crash-test", region=REGION, location=location,
                          intended_at=now, started_at=now, ok=True, latency_ms=1.0)
              for _ in range(7)]
    sender = IngestSender(web.url, agent_token)
    try:
        with Spool(tmp_path / "spool") as spool:
            spool.append(checks)
            assert spool.drain(SendThenCrash(sender)).failed
            assert spool.pending_checks == 7
        with Spool(tmp_path / "spool") as restarted:
            assert restarted.drain(sender).sent == 7
            assert restarted.pending_checks == 0
    finally:
        sender.close()
    assert stored_counts(engine, location) == {check.id: 1 for check in checks}


def test_the_agent_stops_at_once_when_the_server_refuses_its_token(
        web: Listener, tmp_path: Path) -> None:
    agent = Agent(agent_config(web.url, "bw_not_a_token", "refused", tmp_path / "spool"),
                  SystemClock())
    try:
        with pytest.raises(BellwetherError, match="refused the agent: HTTP 401"):
            agent.start()
    finally:
        assert agent.stop() == 0


def test_the_agent_gives_up_on_a_silent_server_after_its_deadline(tmp_path: Path) -> None:
    said: list[str] = []
    config = agent_config(f"http://127.0.0.1:{free_port()}", "bw_token", "silent",
                          tmp_path / "spool", connect_timeout_s=1.5, retry_cap_s=0.5)
    agent = Agent(config, SystemClock(), say=said.append)
    try:
        with pytest.raises(ServerUnreachable, match="no answer from"):
            agent.start()
    finally:
        agent.stop()
    assert any(line.startswith("waiting for the server") for line in said)


@pytest.mark.parametrize(("option", "value"), [("--location", "Not A Name"),
                                               ("--server", "ftp://example.test"),
                                               ("--shard", "2/2"), ("--shard", "half")])
def test_the_agent_command_refuses_bad_arguments_with_exit_2(
        option: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = {"--location": "office", "--server": "http://127.0.0.1:9", "--token": "bw_t",
            option: value}
    with pytest.raises(SystemExit) as exited:
        main(["agent", *[part for pair in args.items() for part in pair]])
    assert exited.value.code == 2
    assert option in capsys.readouterr().err


@pytest.mark.e2e
def test_the_agent_command_stores_checks_and_exits_0_on_sigterm(
        web: Listener, engine: Engine, agent_token: str, prefix: str, tmp_path: Path) -> None:
    location = f"{prefix}-cli"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "BELLWETHER_DATA_DIR": str(tmp_path / "data")}
    output = tmp_path / "agent.out"
    with output.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "agent", "--location", location,
             "--server", web.url, "--token", agent_token, "--probe", f"{prefix}.*"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: len(stored_counts(engine, location)) >= 3 or proc.poll(),
                       timeout=30, message="checks from the agent process")
            assert proc.poll() is None, output.read_text(encoding="utf-8")
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    printed = output.read_text(encoding="utf-8")
    assert code == 0, printed
    assert f"agent {location} → {web.url}" in printed
    assert "catalogue: 2 probes" in printed
    assert "stopped; 0 checks left in the spool" in printed
    assert (tmp_path / "data" / f"spool-{location}").is_dir()
    assert set(stored_counts(engine, location).values()) == {1}
    with session_scope(make_session_factory(engine)) as session:
        row = session.get(AgentRow, location)
        assert row is not None
        assert row.silent_since == row.last_seen_at  # stopped on purpose, not silent


@pytest.mark.e2e
def test_a_probe_disabled_on_the_server_stops_at_the_next_heartbeat_not_the_next_refresh(
        web: Listener, engine: Engine, agent_token: str, prefix: str, tmp_path: Path) -> None:
    said: list[str] = []
    config = agent_config(web.url, agent_token, prefix, tmp_path / "spool",
                          refresh_s=3600.0, heartbeat_s=0.2)
    agent = Agent(config, SystemClock(), say=said.append)
    try:
        assert agent.start()
        assert len(agent.catalogue.probes) == 2
        router = next(p for p in agent.catalogue.probes if p.name == f"{prefix}.router")
        with session_scope(make_session_factory(engine)) as session:
            store.save_probe(session, replace(router, enabled=False), datetime.now(UTC))
        wait_until(lambda: "catalogue changed: 1 probes" in said, timeout=10,
                   message="the catalogue fetched again after a heartbeat")
        assert [p.name for p in agent.catalogue.probes] == [f"{prefix}.products"]
    finally:
        agent.stop()


@pytest.mark.e2e
def test_a_refresh_starts_new_probes_and_stops_removed_ones(
        web: Listener, engine: Engine, agent_token: str, prefix: str, tmp_path: Path) -> None:
    made: list[CheckResult] = []
    said: list[str] = []
    config = agent_config(web.url, agent_token, prefix, tmp_path / "spool")
    agent = Agent(config, SystemClock(), say=said.append, on_spooled=made.extend)
    factory = make_session_factory(engine)
    try:
        assert agent.start()
        products = agent.catalogue.probes[0]
        with session_scope(factory) as session:
            store.delete_probe(session, f"{prefix}.router")
            store.save_probe(session, replace(products, name=f"{prefix}.more"),
                             datetime.now(UTC))
        assert agent.refresh()
        assert "catalogue changed: 2 probes" in said
        refreshed_at = len(made)
        wait_until(lambda: {c.probe for c in made[refreshed_at:]} >= {f"{prefix}.more"},
                   timeout=10, message="a check of the new probe")
        wait_until(lambda: len(made) >= refreshed_at + 6, timeout=10, message="more checks")
        assert f"{prefix}.router" not in {c.probe for c in made[refreshed_at + 2:]}
    finally:
        agent.stop()


@pytest.mark.e2e
def test_two_shards_of_one_location_store_every_check_once_and_never_run_a_probe_twice(
        web: Listener, engine: Engine, agent_token: str, prefix: str, tmp_path: Path) -> None:
    made: list[list[CheckResult]] = [[], []]
    agents = [Agent(agent_config(web.url, agent_token, prefix, tmp_path / f"spool-{i}",
                                 shard=Shard(i, 2)), SystemClock(), on_spooled=made[i].extend)
              for i in range(2)]
    location = agents[0].config.location
    try:
        for agent in agents:
            assert agent.start()
        wanted = {f"{prefix}.products", f"{prefix}.router"}
        wait_until(lambda: {c.probe for c in made[0] + made[1]} == wanted, timeout=20,
                   message="a check of each probe from one shard or the other")
    finally:
        left = [agent.stop() for agent in agents]
    assert left == [0, 0]
    assert not {c.probe for c in made[0]} & {c.probe for c in made[1]}
    assert sum(len(a.scheduler.owned_jobs()) for a in agents if a.scheduler) == 2
    assert {agent_seen(engine, f"{location}-shard{i}of2") is not None for i in (0, 1)} == {
        True}
    stored = stored_counts(engine, location)
    assert set(stored) == {c.id for c in made[0] + made[1]}
    assert set(stored.values()) == {1}


def test_the_agent_names_saturation_only_when_checks_were_late_or_skipped() -> None:
    assert saturation_note(0, 0) is None
    note = saturation_note(3, 12)
    assert note is not None
    assert note.startswith("saturated: 12 checks waited")
    assert "3 slots were skipped" in note


def agent_seen(engine: Engine, name: str) -> datetime | None:
    """When the server last heard from the agent `name` (None: never)."""
    with engine.connect() as conn:
        return conn.scalar(select(AgentRow.last_seen_at).where(AgentRow.name == name))


@pytest.mark.e2e
def test_an_agent_with_nothing_to_probe_still_reports_a_heartbeat_and_spools_none(
        web: Listener, engine: Engine, agent_token: str, prefix: str, tmp_path: Path) -> None:
    said: list[str] = []
    config = agent_config(web.url, agent_token, prefix, tmp_path / "spool",
                          patterns=("nothing-matches-*",), heartbeat_s=0.2)
    agent = Agent(config, SystemClock(), say=said.append)
    try:
        assert agent.start()
        assert agent.catalogue.probes == ()
        first = agent_seen(engine, config.location)
        assert first is not None  # the heartbeat at start
        wait_until(lambda: (agent_seen(engine, config.location) or first) > first, timeout=10,
                   message="a later heartbeat")
        web.stop()
        wait_until(lambda: any(line.startswith("heartbeat failed") for line in said),
                   timeout=10, message="a heartbeat failing while the server is away")
        sent_while_down = agent.heartbeats_sent
        web.start()
        wait_until(lambda: "heartbeats are getting through again" in said, timeout=10,
                   message="heartbeats back")
    finally:
        left = agent.stop()
    assert left == 0
    assert agent.spool.sealed_segments == []
    assert agent.heartbeats_sent > sent_while_down >= 2
    assert stored_counts(engine, config.location) == {}


def test_an_agent_whose_token_is_for_another_location_is_refused_at_start(
        web: Listener, engine: Engine, prefix: str, tmp_path: Path) -> None:
    token = make_token(engine, Role.AGENT, (f"{prefix}-elsewhere",))
    agent = Agent(agent_config(web.url, token, prefix, tmp_path / "spool"), SystemClock())
    try:
        with pytest.raises(BellwetherError, match=f"HTTP 403 .*not for location {prefix}-loc"):
            agent.start()
    finally:
        assert agent.stop() == 0
    assert agent_seen(engine, f"{prefix}-loc") is None
