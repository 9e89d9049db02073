"""`bellwether up` with `probe_processes = 2`: two child processes run the probes, every
(component, region) pair in exactly one of them, their checks stored and counted as today;
a shard killed with SIGKILL is restarted; SIGTERM lets the checks in flight finish."""

from __future__ import annotations

import os
import re
import signal
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from core.db import make_engine, make_session_factory, session_scope
from probes.models import CheckRow
from probes.shards import pair_shard, shard_probes
from probes.specs import default_catalogue
from tests.support.databases import create_database, drop_database
from tests.support.processes import BellwetherProcess
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e
TOKEN = "bw_shards_admin_token_0123456789"
REGION = "us-central1.gcp"
LOCATIONS = ("loc-a", "loc-b", "loc-c")


class HeldServer:
    """Answers GET / with 503 until armed; once armed, with 200 but only when `release` is
    set: checks in flight on demand, each of which passes."""

    def __init__(self) -> None:
        self.armed = threading.Event()
        self.release = threading.Event()
        self.requests = 0  # held ones
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                held = outer.armed.is_set()
                if held:
                    outer.requests += 1
                    outer.release.wait(60)
                self.send_response(200 if held else 503)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    url = create_database(tmp_path, "shards")
    yield url
    drop_database(url)


@pytest.fixture
def held() -> Iterator[HeldServer]:
    server = HeldServer()
    yield server
    server.close()


def shard_pids(parent: int) -> set[int]:
    """The parent's children that are multiprocessing's spawned workers (not its resource
    tracker)."""
    found = set()
    for task in Path(f"/proc/{parent}/task").iterdir():
        for pid in (task / "children").read_text().split():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            if b"spawn_main" in cmdline:
                found.add(int(pid))
    return found


class Checks:
    """Reads the stored checks."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.factory = make_session_factory(engine=self.engine)

    def seen_since(self, since: datetime) -> set[tuple[str, str, str]]:
        with session_scope(self.factory) as session:
            rows = session.execute(select(CheckRow.component, CheckRow.region,
                                          CheckRow.location)
                                   .where(CheckRow.started_at >= since).distinct()).all()
        return {(row[0], row[1], row[2]) for row in rows}

    def count(self, probe: str) -> tuple[int, int]:
        with session_scope(self.factory) as session:
            total, passed = session.execute(
                select(func.count(CheckRow.id), func.count(CheckRow.id).filter(CheckRow.ok))
                .where(CheckRow.probe == probe)).one()
        return int(total), int(passed)


def counted_pairs(url: str) -> set[tuple[str, str, str]]:
    """The (component, region, location) series `/metrics` has counted checks of."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    pattern = re.compile(r'^bellwether_probe_checks_total\{component="([^"]+)",'
                         r'location="([^"]+)",outcome="ok",region="([^"]+)"\} ([0-9.]+)$')
    return {(m[1], m[3], m[2]) for line in text.splitlines()
            if (m := pattern.match(line)) and float(m[4]) > 0}


def test_shards_split_pairs_restart_and_finish_checks_in_flight(
        tmp_path: Path, database_url: str, held: HeldServer) -> None:
    config = tmp_path / "bellwether.toml"
    config.write_text(f"""
backup_interval_minutes = 100000
[[probes]]
name = "held"
component = "held"
region = "{REGION}"
base_url = "{held.url}"
interval_s = 1
timeout_s = 60
steps = [{{ method = "GET", path = "/", auth = "none" }}]
""", encoding="utf-8")
    up = BellwetherProcess(tmp_path / "data", database_url, TOKEN, extra_env={
        "BELLWETHER_CONFIG": str(config), "BELLWETHER_PROBE_PROCESSES": "2",
        "BELLWETHER_PROBE_INTERVAL_S": "1", "BELLWETHER_REGIONS": REGION})
    checks = Checks(database_url)
    catalogue = {(p.component, p.region) for p in default_catalogue((REGION,), 1)}
    wanted = {(c, r, loc) for c, r in catalogue for loc in LOCATIONS}
    try:
        printed = "\n".join(up.start(timeout=120))
        assert "in 2 processes" in printed
        assert up.proc is not None
        parent = up.proc.pid

        def two_shards(without: int = 0) -> set[int] | None:
            pids = shard_pids(parent)
            return pids if len(pids) == 2 and without not in pids else None

        first = wait_until(two_shards, timeout=30, message="two shard processes")
        started = datetime.now(UTC)
        # Every pair from every location is checked, and the main process's /metrics counts
        # the checks of both shards (each shard owns some of these pairs).
        wait_until(lambda: wanted <= checks.seen_since(started), timeout=60, interval=0.5,
                   message="checks of every pair from every location")
        wait_until(lambda: wanted <= counted_pairs(up.url), timeout=30, interval=0.5,
                   message="/metrics counting every pair's checks")
        assert {pair_shard(c, r, 2) for c, r in catalogue} == {0, 1}

        # A shard killed outright is restarted, and its pairs are checked again.
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        up.wait_for_line(re.compile(r"probe shard \d/2 .* died"), timeout=30)
        after = wait_until(lambda: two_shards(without=victim), timeout=60,
                           message="the shard restarted")
        assert len(after & first) == 1
        restarted = datetime.now(UTC)
        wait_until(lambda: wanted <= checks.seen_since(restarted), timeout=60, interval=0.5,
                   message="every pair checked after the restart")
        metrics = httpx.get(f"{up.url}/metrics", timeout=10).text
        assert re.search(r'^bellwether_probe_shard_restarts_total\{shard="[01]"\} 1\.0$',
                         metrics, re.M), metrics

        # SIGTERM while checks are in flight: they finish and are stored before the exit.
        held.armed.set()
        wait_until(lambda: held.requests >= 1, timeout=30, message="a held check in flight")
        assert checks.count("held")[1] == 0
        up.proc.send_signal(signal.SIGTERM)
        up.wait_for_line(re.compile(r"probe shard \d/2: stopping, [1-9]\d* checks in flight"),
                         timeout=60)
        held.release.set()
        assert up.stop(signal.SIGTERM, timeout=90) == 0
        _, passed = checks.count("held")  # only held requests were answered 200
    finally:
        if up.proc is not None and up.proc.poll() is None:
            up.kill()
        checks.engine.dispose()
    assert passed >= 1
    assert passed == held.requests
    assert not any(Path(f"/proc/{pid}").exists() for pid in after)
    assert "stopped" in up.lines


def test_pairs_are_split_whole_and_stably() -> None:
    """Each pair belongs to exactly one shard, with all its probes, whatever the order."""
    probes = default_catalogue(("europe-west1.gcp", "us-central1.gcp"), 30)
    shares = [shard_probes(probes, index, 3) for index in range(3)]
    assert sorted(p.name for share in shares for p in share) == sorted(p.name for p in probes)
    owners = {(p.component, p.region): index for index, share in enumerate(shares)
              for p in share}
    assert all(owners[(p.component, p.region)] == index
               for index, share in enumerate(shares) for p in share)
    assert shard_probes(list(reversed(probes)), 1, 3) == list(reversed(shares[1]))
    assert all(share for share in shares)
