"""`/metrics` scraped from a live app over loopback: one Content-Type, OpenMetrics on request,
no `_created` series, build and process information, incidents, the outbox, error budgets
and web requests, checked with prometheus_client's own parsers, promtool and a real
Prometheus. A database of its own, so every count is exact."""

from __future__ import annotations

import platform
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path

import httpx
import pytest
from flask import Flask
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from alerts.dispatch import PAGES_ONLY, Dispatcher
from alerts.outbox import Notice, enqueue
from alerts.senders import DeliveryError
from alerts.senders.local import RecordingSender
from app import create_app
from commerce.catalog import SERVICES
from core import migrate
from core.config import Settings
from core.db import make_engine, make_session_factory, session_scope
from core.models import Role
from core.servers import Listener
from tests.conftest import make_token
from tests.support.clock import ManualClock
from tests.support.databases import create_database, drop_database
from tests.support.prometheus import running_prometheus
from tests.support.waiting import wait_until

TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores"
#: What Prometheus 2.42 sends when it scrapes.
PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                     "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
#: name → (type, label names) of every family this change adds (the parser drops `_total`).
FAMILIES = {
    "bellwether_build_info": ("gauge", {"version", "python"}),
    "process_cpu_seconds": ("counter", set()),
    "process_resident_memory_bytes": ("gauge", set()),
    "process_start_time_seconds": ("gauge", set()),
    "python_info": ("gauge", {"implementation", "major", "minor", "patchlevel", "version"}),
    "bellwether_incidents_open": ("gauge", {"impact", "origin"}),
    "bellwether_incidents_opened": ("counter", {"origin"}),
    "bellwether_outbox_rows": ("gauge", {"lane", "status"}),
    "bellwether_outbox_dead_letters": ("gauge", {"channel"}),
    "bellwether_pagerduty_failed_attempts": ("counter", set()),
    "bellwether_error_budget_remaining_seconds": ("gauge", {"component", "region", "plan"}),
    "bellwether_error_budget_seconds": ("gauge", {"component", "region", "plan"}),
    "bellwether_http_requests": ("counter", {"method", "route", "status"}),
    "bellwether_http_request_duration_seconds": ("histogram", {"method", "route", "status"}),
}


@pytest.fixture(scope="module")
def metrics_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = create_database(tmp_path_factory.mktemp("metricsdb"), "metrics")
    migrate.upgrade(url)
    yield url
    drop_database(url)


@pytest.fixture
def metrics_engine(metrics_url: str) -> Iterator[Engine]:
    engine = make_engine(metrics_url)
    yield engine
    engine.dispose()


@pytest.fixture
def live_clock() -> ManualClock:
    return ManualClock(datetime(2026, 10, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def live_app(tmp_path: Path, metrics_url: str, live_clock: ManualClock) -> Iterator[Flask]:
    settings = replace(Settings(), data_dir=tmp_path, database_url=metrics_url, http_port=0,
                       secret_key="test-secret")
    app = create_app(settings, clock=live_clock)
    yield app
    app.extensions["bellwether"].engine.dispose()


@pytest.fixture
def web(live_app: Flask) -> Iterator[Listener]:
    listener = Listener("metrics-test", live_app, threads=2)
    listener.start()
    yield listener
    listener.stop()


def scrape(web: Listener, accept: str | None = None) -> httpx.Response:
    headers = {"Accept": accept} if accept is not None else {}
    response = httpx.get(f"{web.url}/metrics", headers=headers, timeout=10)
    assert response.status_code == 200
    return response


def families(web: Listener) -> dict[str, Metric]:
    return {f.name: f for f in text_string_to_metric_families(scrape(web).text)}


def value(family: Metric, **labels: str) -> float:
    names = {family.name, f"{family.name}_total"}  # a counter's sample is <name>_total
    found = [s.value for s in family.samples if s.name in names and s.labels == labels]
    assert len(found) == 1, (family.name, labels, family.samples)
    return found[0]


def test_the_content_type_is_the_text_format_once_and_openmetrics_when_asked(
        web: Listener) -> None:
    plain = scrape(web)
    assert plain.headers["Content-Type"] == TEXT_FORMAT
    assert plain.headers.get_list("Content-Type") == [TEXT_FORMAT]
    assert not plain.text.endswith("# EOF\n")
    asked = scrape(web, PROMETHEUS_ACCEPT)
    assert asked.headers["Content-Type"] == OPENMETRICS
    assert asked.text.endswith("# EOF\n")
    names = {f.name for f in openmetrics_families(asked.text)}  # type: ignore[no-untyped-call]
    assert set(FAMILIES) <= names
    newer = scrape(web, "text/plain;version=1.0.0;escaping=underscores")
    assert newer.headers["Content-Type"] == \
        "text/plain; version=1.0.0; charset=utf-8; escaping=underscores"


def test_no_created_series_in_either_format(web: Listener) -> None:
    for accept in (None, PROMETHEUS_ACCEPT):
        text = scrape(web, accept).text
        assert "bellwether_scheduler_lag_seconds_count " in text  # a histogram is there
        assert "_created" not in text


def test_every_new_family_has_its_type_and_labels(web: Listener) -> None:
    httpx.get(f"{web.url}/api/v1/regions", timeout=5)
    found = families(web)
    for name, (kind, labels) in FAMILIES.items():
        assert name in found, name
        assert found[name].type == kind, name
        label_sets = {frozenset(s.labels) - {"le"} for s in found[name].samples}
        assert label_sets == {frozenset(labels)}, (name, label_sets)
    info = found["bellwether_build_info"]
    assert value(info, version=metadata.version("bellwether"),
                 python=platform.python_version()) == 1.0
    assert value(found["process_resident_memory_bytes"]) > 0


def test_declaring_and_resolving_an_incident_moves_the_gauges(
        web: Listener, live_clock: ManualClock, metrics_engine: Engine) -> None:
    before = families(web)
    open_before = value(before["bellwether_incidents_open"], impact="major", origin="declared")
    opened_before = value(before["bellwether_incidents_opened"], origin="declared")
    token = make_token(metrics_engine, Role.SUPPORT)
    auth = {"Authorization": f"Bearer {token}"}
    declared = httpx.post(f"{web.url}/api/v1/incidents", headers=auth, timeout=10,
                          json={"title": "Checkout slow", "impact": "major",
                                "message": "Looking into it"})
    assert declared.status_code == 201
    incident_id = declared.json()["id"]
    cached = families(web)  # read within the cache's 5 s: unchanged
    assert value(cached["bellwether_incidents_open"], impact="major",
                 origin="declared") == open_before
    live_clock.advance(timedelta(seconds=5))
    during = families(web)
    assert value(during["bellwether_incidents_open"], impact="major",
                 origin="declared") == open_before + 1
    assert value(during["bellwether_incidents_opened"], origin="declared") == opened_before + 1
    assert value(during["bellwether_incidents_open"], impact="minor", origin="declared") == 0
    resolved = httpx.post(f"{web.url}/api/v1/incidents/{incident_id}/resolve", headers=auth,
                          json={"body": "Fixed"}, timeout=10)
    assert resolved.status_code == 200
    live_clock.advance(timedelta(seconds=5))
    after = families(web)
    assert value(after["bellwether_incidents_open"], impact="major",
                 origin="declared") == open_before
    assert value(after["bellwether_incidents_opened"], origin="declared") == opened_before + 1


def test_web_requests_are_labelled_by_route_rule_and_status(web: Listener) -> None:
    incident = httpx.get(f"{web.url}/api/v1/incidents/987654", timeout=5)
    assert incident.status_code == 404
    missing = httpx.get(f"{web.url}/no/such/page/123", timeout=5)
    assert missing.status_code == 404
    found = families(web)
    requests = found["bellwether_http_requests"]
    assert value(requests, method="GET", route="/api/v1/incidents/<int:incident_id>",
                 status="404") >= 1
    assert value(requests, method="GET", route="unmatched", status="404") >= 1
    routes = {s.labels["route"] for s in requests.samples}
    assert not any("987654" in route or "/no/such" in route for route in routes)
    duration = found["bellwether_http_request_duration_seconds"]
    counts = [s for s in duration.samples if s.name.endswith("_count")
              and s.labels["route"] == "/api/v1/incidents/<int:incident_id>"]
    assert len(counts) == 1
    assert counts[0].value >= 1


def test_the_outbox_depth_dead_letters_and_pagerduty_failures(
        web: Listener, live_clock: ManualClock, metrics_engine: Engine) -> None:
    def outbox() -> tuple[float, float, float, float]:
        live_clock.advance(timedelta(seconds=5))
        found = families(web)
        return (value(found["bellwether_outbox_rows"], lane="pages", status="pending"),
                value(found["bellwether_outbox_rows"], lane="notices", status="pending"),
                value(found["bellwether_outbox_dead_letters"], channel="pagerduty"),
                value(found["bellwether_pagerduty_failed_attempts"]))

    pages, notices, dead, failed = outbox()
    factory = make_session_factory(metrics_engine)
    stamp = datetime.now(UTC).strftime("%H%M%S%f")
    with session_scope(factory) as session:
        enqueue(session, [
            Notice(key=f"pd:metrics-{stamp}:a", channel="pagerduty", recipient="KEY",
                   event_type="page.trigger", payload={"action": "trigger"}),
            Notice(key=f"pd:metrics-{stamp}:b", channel="pagerduty", recipient="KEY",
                   event_type="page.trigger", payload={"action": "trigger"}),
            Notice(key=f"email:metrics-{stamp}", channel="email", recipient="a@example.test",
                   event_type="incident.update", payload={"subject": "s", "text": "t"}),
        ], live_clock.now())
    assert outbox() == (pages + 2, notices + 1, dead, failed)
    # One page fails and will be retried, the other fails for good; the email is left.
    sender = RecordingSender([DeliveryError("503 from PagerDuty", permanent=False),
                              DeliveryError("400 invalid routing key", permanent=True)])
    Dispatcher({"pagerduty": sender}, lanes=PAGES_ONLY).run_once(factory, live_clock)
    assert len(sender.attempts) == 2
    assert outbox() == (pages + 1, notices + 1, dead + 1, failed + 2)


def test_error_budgets_are_there_for_every_catalogue_service_and_region(
        web: Listener, live_app: Flask) -> None:
    regions = live_app.extensions["bellwether"].settings.regions
    remaining = families(web)["bellwether_error_budget_remaining_seconds"]
    pairs = {(s.labels["component"], s.labels["region"]) for s in remaining.samples}
    assert {(c, r) for c in SERVICES for r in regions} <= pairs
    assert {s.labels["plan"] for s in remaining.samples} <= {"standard", "premium"}


def test_promtool_finds_nothing_to_say(web: Listener) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    httpx.get(f"{web.url}/api/v1/regions", timeout=5)
    checked = subprocess.run([promtool, "check", "metrics"], input=scrape(web).content,
                             capture_output=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stderr.decode()
    assert checked.stdout.decode() + checked.stderr.decode() == ""


def test_a_real_prometheus_scrapes_it(web: Listener, tmp_path: Path) -> None:
    target = web.url.removeprefix("http://")
    with running_prometheus(tmp_path, [target]) as prometheus:
        def scraped() -> bool:
            return bool(prometheus.query("bellwether_build_info == 1")) and \
                bool(prometheus.query("up == 1"))

        wait_until(scraped, timeout=30, interval=0.2,
                   message="Prometheus to scrape bellwether_build_info")
        assert prometheus.query("bellwether_incidents_open")
        assert not prometheus.query('{__name__=~".+_created"}')


def test_answers_from_the_static_copy_are_counted_under_flasks_rule(
        web: Listener, live_app: Flask, tmp_path: Path) -> None:
    copy = tmp_path / "public"
    (copy / "incidents" / "424242").mkdir(parents=True)
    (copy / "incidents" / "424242" / "index.html").write_text("<p>from the copy</p>")
    live_app.extensions["bellwether"].parts["public_dir"] = copy
    answer = httpx.get(f"{web.url}/incidents/424242", timeout=5)
    assert (answer.status_code, answer.text) == (200, "<p>from the copy</p>")  # Flask: 404
    requests = families(web)["bellwether_http_requests"]
    assert value(requests, method="GET", route="/incidents/<int:incident_id>",
                 status="200") == 1
