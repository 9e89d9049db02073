"""Other people's client reads Bellwether as Statuspage: the npm `statuspage.io` client (the
version issue 13 measured, 3.3.8), run by node against a live instance on a loopback port
holding incidents and maintenance in every state. Every call of its public API must
succeed and return the document it asked for, in Statuspage's shapes.

The client is installed from the npm registry into a cache directory the first time
(`$XDG_CACHE_HOME` or `~/.cache`, then `bellwether-tests/`); without node, npm or the
registry the test is skipped, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine

from core.db import make_session_factory, session_scope
from core.servers import Listener
from status.models import Incident, IncidentUpdate
from tests.status.statuspage_shapes import SHAPES, differences
from tests.status.statuspage_world import MINUTE, clear, seed

pytestmark = pytest.mark.e2e
CLIENT = "statuspage.io"
VERSION = "3.3.8"
#: Every call of the client's public (page-reading) API, by the name the script gives it.
CALLS = ("getComponents", "getStatus", "getSummary", "incidents.getAll",
         "incidents.getUnresolved", "scheduledMaintenances.getActive",
         "scheduledMaintenances.getAll", "scheduledMaintenances.getUpcoming")
SCRIPT = r"""
const { Statuspage } = require('statuspage.io');
const page = new Statuspage('bellwether');
page.setApiUrl(process.env.STATUSPAGE_URL);
let asked = null;
page.apiClient.interceptors.request.use((config) => { asked = config.url; return config; });
const calls = {
  getComponents: () => page.api.getComponents(),
  getStatus: () => page.api.getStatus(),
  getSummary: () => page.api.getSummary(),
  'incidents.getAll': () => page.api.incidents.getAll(),
  'incidents.getUnresolved': () => page.api.incidents.getUnresolved(),
  'scheduledMaintenances.getActive': () => page.api.scheduledMaintenances.getActive(),
  'scheduledMaintenances.getAll': () => page.api.scheduledMaintenances.getAll(),
  'scheduledMaintenances.getUpcoming': () => page.api.scheduledMaintenances.getUpcoming(),
};
(async () => {
  const results = {};
  for (const [name, call] of Object.entries(calls)) {
    asked = null;
    try {
      const data = await call();
      results[name] = { ok: true, path: asked, data };
    } catch (error) {
      results[name] = { ok: false, path: asked, error: String(error),
                        status: error.response ? error.response.status : null };
    }
  }
  process.stdout.write(JSON.stringify(results));
})();
"""


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"the npm client is required under CI=true: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def client_dir() -> Path:
    """The client installed into the cache directory (once; later runs reuse it)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("node and npm are needed to run the statuspage.io client")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    directory = cache / "bellwether-tests" / f"npm-{CLIENT}-{VERSION}"
    directory.mkdir(parents=True, exist_ok=True)
    installed = directory / "node_modules" / CLIENT / "package.json"
    if not (installed.is_file()
            and json.loads(installed.read_text()).get("version") == VERSION):
        try:
            done = subprocess.run(
                [str(npm), "install", "--no-audit", "--no-fund", "--no-save",
                 "--prefix", str(directory), f"{CLIENT}@{VERSION}"],
                capture_output=True, text=True, timeout=300, check=False)
        except subprocess.TimeoutExpired:
            _unavailable(f"npm install {CLIENT}@{VERSION} took over 300 s")
        if done.returncode != 0 or not installed.is_file():
            _unavailable(f"npm install {CLIENT}@{VERSION} failed: {done.stderr[-800:]}")
    return directory


@pytest.fixture
def live(status_app: Flask, app_engine: Engine) -> Iterator[tuple[str, dict[str, Any]]]:
    """The app on a loopback port, seeded with incidents (investigating, identified,
    monitoring, resolved) and maintenance (scheduled, in progress, completed)."""
    clear(app_engine)
    world = seed(app_engine)
    with session_scope(make_session_factory(app_engine)) as session:
        incident = session.get(Incident, world["ids"]["open"])
        assert incident is not None
        moved = world["t"]["opened"] + 2 * MINUTE
        incident.status, incident.updated_at = "identified", moved
        incident.updates.append(IncidentUpdate(status="identified", body="Found it",
                                               created_at=moved))
    web = Listener("statuspage-client", status_app, threads=4)
    web.start()
    try:
        yield web.url, world
    finally:
        web.stop()
        clear(app_engine)


def run_client(directory: Path, url: str) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run([node, "-e", SCRIPT], cwd=directory, capture_output=True,
                          text=True, timeout=120, check=False,
                          env={**os.environ, "NODE_PATH": str(directory / "node_modules"),
                               "STATUSPAGE_URL": url})
    assert done.returncode == 0, done.stderr
    results: dict[str, Any] = json.loads(done.stdout)
    return results


def document_of(path: str) -> str:
    """The Statuspage endpoint a request path names (`/api/v2/incidents/unresolved.json`)."""
    name = path.removeprefix("/api/v2/").removesuffix(".json")
    assert name in SHAPES["endpoints"], path
    return name


def test_every_call_of_the_npm_client_succeeds_against_a_live_instance(
        client_dir: Path, live: tuple[str, dict[str, Any]]) -> None:
    url, world = live
    results = run_client(client_dir, url)
    assert set(results) == set(CALLS)
    failed = {name: r for name, r in results.items() if not r["ok"]}
    assert failed == {}
    for name, result in results.items():
        document = document_of(result["path"])
        assert differences(result["data"], document) == [], name

    statuses = {i["status"] for i in results["incidents.getAll"]["data"]["incidents"]}
    assert statuses == {"identified", "monitoring", "resolved"}
    assert {i["id"] for i in results["incidents.getUnresolved"]["data"]["incidents"]} == {
        str(world["ids"]["open"]), str(world["ids"]["watched"])}
    summary = results["getSummary"]["data"]
    assert {m["status"] for m in summary["scheduled_maintenances"]} == {"scheduled",
                                                                      "in_progress"}
    assert any(c["group"] for c in results["getComponents"]["data"]["components"])
    assert results["getStatus"]["data"]["status"]["indicator"] == "critical"
