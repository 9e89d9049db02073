"""A remote location's DNS resolver: `bellwether agent --resolver` (or its config file's
`[locations.<name>] resolver`) is what its dns probes ask."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, select

from app import create_app, main
from commerce.fleet import Fleet
from core.clock import SystemClock
from core.config import Settings
from core.db import make_session_factory, session_scope
from core.models import Role
from core.servers import Listener
from probes import store
from probes.agent import Agent, AgentConfig
from probes.models import CheckRow, Probe
from probes.specs import parse_probe, resolver_address
from tests.conftest import make_token
from tests.probes.dns_server import DnsServer
from tests.support.waiting import wait_until

REGION = "europe-west1.gcp"


@pytest.fixture
def web(fleet: Fleet, migrated_url: str, tmp_path: Path) -> Iterator[Listener]:
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
    """A dns probe at 1 s that names no resolver: the location's decides."""
    prefix = f"agentdns-{uuid.uuid4().hex[:8]}"
    probe = parse_probe({"name": f"{prefix}.dns", "component": prefix, "region": REGION,
                         "kind": "dns", "target": "shop.example.test",
                         "answers": ["192.0.2.10"], "interval_s": 1, "timeout_s": 2},
                        fleet.regions, source="api")
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        store.save_probe(session, probe, datetime.now(UTC))
    yield prefix
    with session_scope(factory) as session:
        session.execute(delete(Probe).where(Probe.name.startswith(f"{prefix}.")))


def stored(engine: Engine, location: str) -> list[tuple[bool, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(select(CheckRow.ok, CheckRow.error)
                            .where(CheckRow.location == location))
        return [(bool(ok), error) for ok, error in rows]


@pytest.mark.e2e
def test_an_agent_s_dns_probes_ask_its_own_resolver(web: Listener, engine: Engine,
                                                    prefix: str, tmp_path: Path) -> None:
    location = f"{prefix}-loc"
    token = make_token(engine, Role.AGENT, (location,))
    with DnsServer({("shop.example.test.", "A"): ["192.0.2.10"]}) as dns_server:
        config = AgentConfig(location=location, server=web.url, token=token,
                             spool_dir=tmp_path / "spool", patterns=(f"{prefix}.*",),
                             drain_period_s=0.2, connect_timeout_s=20,
                             resolver=resolver_address(dns_server.address))
        agent = Agent(config, SystemClock(), say=lambda _line: None)
        try:
            assert agent.start()
            checks = wait_until(lambda: stored(engine, location), timeout=20,
                                message="the agent's dns checks stored")
        finally:
            agent.stop()
    assert checks[0] == (True, None)
    assert ("shop.example.test.", "A") in dns_server.queries


def test_the_agent_command_refuses_a_resolver_that_is_not_an_address(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["agent", "--location", "office", "--server", "http://127.0.0.1:9",
              "--token", "bw_t", "--resolver", "dns.example.test"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "'--resolver'" in err
    assert "must be an IP address" in err
