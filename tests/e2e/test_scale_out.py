"""The scale-out layout on one PostgreSQL: a commerce set, two `bellwether web`, two
`bellwether worker` and three `bellwether agent` processes. No rollup, notification or page
is done twice, a worker killed with SIGKILL mid-job loses nothing, and agents stopped on
purpose page nobody."""

from __future__ import annotations

import json
import signal
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from core import migrate
from core.auth import create_token, create_user
from core.db import make_engine, make_session_factory, session_scope
from core.models import Role
from probes import store as probes_store
from probes.heartbeats import agent_status
from probes.models import CheckRow, ComponentMinute
from probes.rollup import roll_up
from sla.period import minute_of
from tests.support.databases import create_database, drop_database, postgres_server_url
from tests.support.outbox import in_flight
from tests.support.pagerduty import EventsApiStandIn
from tests.support.processes import BellwetherProcess
from tests.support.tls import self_signed
from tests.support.waiting import wait_until
from tests.support.webhooks import LoopbackServer

pytestmark = pytest.mark.e2e
TOKEN = "bw_scale_out_admin_token_0123456789"
REGION = "europe-west1.gcp"
COMPONENTS = ("auth", "products", "carts")


class Hooks(LoopbackServer):
    """A webhook receiver that remembers each delivery id it was sent."""

    def __init__(self) -> None:
        super().__init__()
        self.deliveries: list[str] = []
        self.events: list[str] = []

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = json.loads(handler.rfile.read(int(handler.headers["Content-Length"])))
        self.deliveries.append(handler.headers["X-Bellwether-Delivery"])
        self.events.append(str(body["event"]))
        handler.send_response(204)
        handler.send_header("Content-Length", "0")
        handler.end_headers()


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    if postgres_server_url() is None:
        pytest.skip("the scale-out layout runs in the PostgreSQL pass of the suite "
                    "(BELLWETHER_TEST_DATABASE_URL); `./dev test` runs both passes")
    url = create_database(tmp_path, "scale")
    migrate.upgrade(url)
    yield url
    drop_database(url)


class Layout:
    """Every process of the layout, started and stopped together."""

    def __init__(self, work: Path, url: str, pagerduty: EventsApiStandIn, cert: Path) -> None:
        config = work / "bellwether.toml"
        config.write_text("allow_private_webhooks = true\nbackup_interval_minutes = 100000\n",
                          encoding="utf-8")
        self.env = {"BELLWETHER_CONFIG": str(config), "BELLWETHER_PROBE_INTERVAL_S": "1",
                    "BELLWETHER_REGIONS": REGION, "BELLWETHER_SECRET_KEY": "scale-secret",
                    "BELLWETHER_PAGERDUTY_EVENTS_URL": pagerduty.url,
                    "BELLWETHER_PAGERDUTY_CA_BUNDLE": str(cert),
                    "BELLWETHER_PAGERDUTY_ROUTING_KEY_TIER1": "tier-one-key",
                    "BELLWETHER_PAGERDUTY_ROUTING_KEY_TIER2": "tier-two-key"}
        self.work, self.url = work, url
        self.commerce = self.process("commerce", ("commerce", "serve"))
        self.webs = [self.process(f"web{i}", ("web",)) for i in (1, 2)]
        self.workers = [self.process(f"worker{i}", ("worker", "--name", f"w{i}"))
                        for i in (1, 2)]
        self.agents: list[BellwetherProcess] = []

    def process(self, name: str, args: tuple[str, ...], ready: str = r"Press Ctrl\+C",
                ) -> BellwetherProcess:
        return BellwetherProcess(self.work / name, self.url, TOKEN, extra_env=self.env,
                                 args=args, ready=ready)

    def start(self) -> None:
        for process in (self.commerce, *self.webs, *self.workers):
            process.start()
        locations = ("loc-a", "loc-b", "loc-c")
        tokens = agent_tokens(self.url, locations)
        # Every agent runs the whole catalogue: a pair no location probes would rightly be
        # paged as a gap ("Bellwether cannot see ..."), which is not what this test is about.
        for index, location in enumerate(locations):
            agent = self.process(f"agent-{location}", (
                "agent", "--location", location, "--server", self.webs[index % 2].url,
                "--token", tokens[location], "--spool-dir", str(self.work / f"spool-{location}")),
                ready="probing from")
            agent.start()
            self.agents.append(agent)

    def stop(self) -> dict[str, int]:
        """Agents first (they drain their spools and say they stop: no agent-silent page,
        no no_data page for the pairs they leave), then, once the workers have rolled up
        every check the agents delivered, the rest."""
        codes = {}
        for agent in self.agents:
            if agent.proc is not None:
                codes[" ".join(agent.args[:3])] = agent.stop()
        # The rollup runs once a minute, 3 s past it: the last checks wait up to a minute.
        wait_until(lambda: unrolled(self.url) == 0, timeout=90, interval=0.5,
                   message="the workers to roll up the last checks")
        for process in (*self.workers, *self.webs, self.commerce):
            if process.proc is not None:
                codes[" ".join(process.args[:3])] = process.stop()
        return codes


def agent_tokens(url: str, locations: tuple[str, ...]) -> dict[str, str]:
    """One agent token per location, as `bellwether token create --location L` issues it."""
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            now = datetime.now(UTC)
            user = create_user(session, email="agents@scale.test", role=Role.AGENT, now=now)
            return {location: create_token(session, user, name=location, now=now,
                                           locations=[location]) for location in locations}
    finally:
        engine.dispose()


def listed_agents(url: str) -> list[dict[str, str]]:
    """What `GET /api/v1/agents` says of each agent, read from the database (the web
    processes are stopped by then)."""
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            now = datetime.now(UTC)
            return [{"name": row.name, "status": agent_status(row.last_seen_at,
                                                              row.silent_since, now, 1)}
                    for row in probes_store.agents(session)]
    finally:
        engine.dispose()


def unrolled(url: str) -> int:
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            return int(session.scalar(select(func.count()).select_from(CheckRow)
                                      .where(CheckRow.rolled_up.is_(False))) or 0)
    finally:
        engine.dispose()


def api(web: BellwetherProcess, method: str, path: str, **kwargs: object) -> httpx.Response:
    return httpx.request(method, f"{web.url}{path}", headers={
        "Authorization": f"Bearer {TOKEN}"}, timeout=10, **kwargs)  # type: ignore[arg-type]


def states(web: BellwetherProcess) -> dict[str, str]:
    rows = api(web, "GET", "/api/v1/states").json()["states"]
    return {r["component"]: r["state"] for r in rows if r["region"] == REGION}


def test_two_web_two_worker_three_agent_processes_do_nothing_twice(
        tmp_path: Path, postgres_url: str) -> None:
    cert, key = self_signed(tmp_path)
    pagerduty = EventsApiStandIn(cert, key)
    hooks = Hooks()
    pagerduty.start()
    hooks.start()
    layout = Layout(tmp_path, postgres_url, pagerduty, cert)
    try:
        layout.start()
        web1, web2 = layout.webs
        wait_until(lambda: all(states(web1).get(c) == "operational" for c in COMPONENTS),
                   timeout=60, interval=0.5, message="every component operational")
        made = api(web2, "POST", "/api/v1/subscribers", json={
            "kind": "webhook", "address": f"{hooks.url}/hook", "regions": [REGION]})
        assert made.status_code == 201, made.text
        fault = api(web1, "POST", "/api/v1/faults", json={"kind": "region_down",
                                                          "region": REGION}).json()
        wait_until(lambda: [e for e in pagerduty.events if e["event_action"] == "trigger"],
                   timeout=60, interval=0.5, message="the page")
        # Killed between a send and its record, a dispatcher sends that row again (at least
        # once: tests/alerts counts those); here the kill must not add any.
        wait_until(lambda: in_flight(postgres_url) == 0, timeout=60, interval=0.2,
                   message="no notice between its send and its record")
        layout.workers[0].stop(signal.SIGKILL)
        wait_until(lambda: "incident.opened" in hooks.events, timeout=60, interval=0.5,
                   message="the subscriber's notice")
        layout.workers[0] = layout.process("worker1b", ("worker", "--name", "w1b"))
        layout.workers[0].start()
        assert api(web2, "DELETE", f"/api/v1/faults/{fault['id']}").status_code == 200
        wait_until(lambda: [e for e in pagerduty.events if e["event_action"] == "resolve"],
                   timeout=90, interval=0.5, message="the resolve")
        wait_until(lambda: "incident.resolved" in hooks.events, timeout=60, interval=0.5,
                   message="the resolution notice")
    finally:
        codes = layout.stop()
        agents_listed = listed_agents(postgres_url)
        pagerduty.stop()
        hooks.stop()
    assert set(codes.values()) == {0}, codes
    assert all("0 checks left in the spool" in " ".join(a.lines) for a in layout.agents)

    events = [json.dumps(e, sort_keys=True) for e in pagerduty.events]
    assert [e for e, n in Counter(events).items() if n > 1] == []
    # Every event PagerDuty received: the region outage's trigger and its resolve, on one
    # dedup_key and one routing key. No other page is expected: every pair is probed by
    # three agents (no gap), the agents stopped on purpose (not silent), and the pipeline
    # never stalled for longer than the freshness window.
    assert [(e["event_action"], e["routing_key"]) for e in pagerduty.events] == [
        ("trigger", "tier-one-key"), ("resolve", "tier-one-key")], pagerduty.events
    assert len({e["dedup_key"] for e in pagerduty.events}) == 1
    assert pagerduty.events[0]["dedup_key"].startswith("bellwether-incident-")
    assert {a["name"]: a["status"] for a in agents_listed} == dict.fromkeys(
        ("loc-a", "loc-b", "loc-c"), "stopped")
    assert [d for d, n in Counter(hooks.deliveries).items() if n > 1] == []
    assert_rollups_equal_a_recount(postgres_url)


def assert_rollups_equal_a_recount(url: str) -> None:
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            locations = set(session.scalars(select(CheckRow.location).distinct()))
            assert locations == {"loc-a", "loc-b", "loc-c"}
            assert session.scalar(select(func.count()).select_from(CheckRow)
                                  .where(CheckRow.rolled_up.is_(False))) == 0
            for component in COMPONENTS:
                rows = session.scalars(select(CheckRow).where(CheckRow.component == component))
                checks = list(rows)
                first = min(c.started_at for c in checks)
                last = max(c.started_at for c in checks)
                series = probes_store.series_checks(session, component, REGION, first,
                                                    last + timedelta(seconds=1))
                minutes = range(minute_of(first), minute_of(last) + 1)
                _, recount = roll_up(series, minutes, confirmations=2)
                stored = session.scalars(select(ComponentMinute).where(
                    ComponentMinute.component == component, ComponentMinute.region == REGION)
                    .order_by(ComponentMinute.minute))
                assert [(r.minute, r.checks, r.failures, r.verdict) for r in stored] == [
                    (r.minute, r.checks, r.failures, r.verdict.value) for r in recount]
    finally:
        engine.dispose()
