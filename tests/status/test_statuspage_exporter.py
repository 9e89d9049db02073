"""Other people's client reads Bellwether as Statuspage: the PyPI
`statuspage-prometheus-exporter` (the version issue 13 measured, 2.6.0), run once
(RUN_MODE=once, its cron mode) against a live instance on a loopback port holding
incidents and maintenance in every state. The metrics it writes must say what the page
says: the page's state, each unresolved incident with Bellwether's own shortlink, each
maintenance not completed, and every component's status.

The exporter is installed from PyPI into a cache directory the first time
(`$XDG_CACHE_HOME` or `~/.cache`, then `bellwether-tests/`); its dependencies
(prometheus_client, APScheduler, requests) are Bellwether's own. Without pip or the
registry the test is skipped, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from core.servers import Listener
from tests.status.conftest import US
from tests.status.statuspage_world import clear, seed

pytestmark = pytest.mark.e2e
EXPORTER = "statuspage-prometheus-exporter"
VERSION = "2.6.0"
SERVICE = "Bellwether"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"the PyPI exporter is required under CI=true: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def exporter_dir() -> Path:
    """The exporter installed into the cache directory (once; later runs reuse it)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    directory = cache / "bellwether-tests" / f"pypi-{EXPORTER}-{VERSION}"
    installed = directory / f"statuspage_prometheus_exporter-{VERSION}.dist-info"
    if not installed.is_dir():
        try:
            done = subprocess.run(
                [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet",
                 "--disable-pip-version-check", "--target", str(directory),
                 f"{EXPORTER}=={VERSION}"],
                capture_output=True, text=True, timeout=300, check=False)
        except subprocess.TimeoutExpired:
            _unavailable(f"pip install {EXPORTER}=={VERSION} took over 300 s")
        if done.returncode != 0 or not installed.is_dir():
            _unavailable(f"pip install {EXPORTER}=={VERSION} failed: {done.stderr[-800:]}")
    return directory


@pytest.fixture
def live(status_app: Flask, app_engine: Engine) -> Iterator[tuple[str, dict[str, Any]]]:
    """The app on a loopback port, seeded with incidents (investigating, monitoring,
    resolved) and maintenance (scheduled, in progress, completed)."""
    clear(app_engine)
    world = seed(app_engine)
    web = Listener("statuspage-exporter", status_app, threads=4)
    web.start()
    try:
        yield web.url, world
    finally:
        web.stop()
        clear(app_engine)


def run_exporter(directory: Path, url: str, work: Path) -> dict[str, list[dict[str, str]]]:
    """One pass of the exporter over the page's summary; its textfile, as label sets per
    metric (each with its value under 'value')."""
    services = work / "services.json"
    services.write_text(json.dumps({"bellwether": {"url": f"{url}/api/v2/summary.json",
                                                   "name": SERVICE}}))
    textfile = work / "metrics" / "statuspage.prom"
    done = subprocess.run(
        [sys.executable, "-m", "statuspage_prometheus_exporter.status_monitoring"],
        cwd=work, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "PYTHONPATH": str(directory), "RUN_MODE": "once",
             "SERVICES_JSON_PATH": str(services), "METRICS_TEXTFILE_PATH": str(textfile),
             "NO_PROXY": "127.0.0.1,localhost"})
    assert done.returncode == 0, done.stderr[-2000:]
    metrics: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(textfile.read_text()):
        for sample in family.samples:
            if sample.name.startswith("statuspage_"):
                metrics.setdefault(sample.name, []).append(
                    {**sample.labels, "value": str(sample.value)})
    return metrics


def summary_of(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/api/v2/summary.json", timeout=10) as answer:
        document: dict[str, Any] = json.load(answer)
    return document


def test_the_pypi_exporter_exports_what_a_live_instance_says(
        exporter_dir: Path, live: tuple[str, dict[str, Any]], tmp_path: Path) -> None:
    url, world = live
    metrics = run_exporter(exporter_dir, url, tmp_path)
    summary = summary_of(url)
    ids = world["ids"]

    assert metrics["statuspage_probe_check"] == [{"service_name": SERVICE, "value": "1.0"}]
    assert metrics["statuspage_service_status"] == [{"service_name": SERVICE, "value": "0.0"}]

    incidents = {i["incident_id"]: i for i in metrics["statuspage_incident_info"]}
    assert set(incidents) == {str(ids["open"]), str(ids["watched"])}
    by_id = {i["id"]: i for i in summary["incidents"]}
    for incident_id, exported in incidents.items():
        ours = by_id[incident_id]
        assert exported["value"] == "1.0"
        assert exported["incident_name"] == ours["name"]
        assert exported["impact"] == ours["impact"]
        # Bellwether's shortlink, not one the exporter made up from the URL.
        assert ours["shortlink"]
        assert exported["shortlink"] == ours["shortlink"]
        assert exported["started_at"] == ours["started_at"][:19] + "Z"
        assert exported["affected_components"] == ", ".join(
            c["name"] for c in ours["components"])
    assert incidents[str(ids["open"])]["impact"] == "critical"
    assert incidents[str(ids["watched"])]["impact"] == "minor"

    windows = {m["maintenance_id"]: m for m in metrics["statuspage_maintenance_info"]}
    assert set(windows) == {str(ids["upcoming"]), str(ids["active"])}
    by_window = {m["id"]: m for m in summary["scheduled_maintenances"]}
    for window_id, exported in windows.items():
        ours = by_window[window_id]
        assert exported["value"] == "1.0"
        assert exported["maintenance_name"] == ours["name"]
        assert exported["scheduled_start"] == ours["scheduled_for"][:19] + "Z"
        assert exported["scheduled_end"] == ours["scheduled_until"][:19] + "Z"
        assert exported["shortlink"] == ours["shortlink"]
    assert {by_window[w]["status"] for w in windows} == {"scheduled", "in_progress"}

    exported_components = metrics["statuspage_component_status"]
    assert len(exported_components) == len(summary["components"])
    components = {c["component_name"]: c["value"] for c in exported_components}
    assert components == {c["name"]: "1.0" if c["status"] == "operational" else "0.0"
                          for c in summary["components"]}
    assert components[f"orders ({US})"] == "0.0"
    assert "1.0" in components.values()
