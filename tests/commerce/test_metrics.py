"""Each zone counts what it answered at GET /metrics, and Prometheus turns that into an SLI."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from commerce.faults import Fault, FaultKind, FaultSpec, FaultView
from commerce.fleet import Fleet
from commerce.zone import ZoneContext, create_zone_app
from core.db import make_session_factory
from probes.sli import PromqlSli, SliReading, promql_sli
from tests.commerce.conftest import FaultInjector
from tests.support.clock import ManualClock
from tests.support.commerce import ShopClient
from tests.support.prometheus import PrometheusServer, running_prometheus
from tests.support.waiting import wait_until

EU = "europe-west1.gcp"


def zone_client(engine: Engine, clock: ManualClock, *specs: FaultSpec) -> FlaskClient:
    """A fresh zone app (its counters at zero) with `specs` as the active faults."""
    view = FaultView(tuple(Fault(i, spec, clock.now(), None) for i, spec in enumerate(specs)))
    ctx = ZoneContext(region=EU, zone="a", session_factory=make_session_factory(engine),
                      clock=clock, faults=lambda: view)
    return create_zone_app(ctx).test_client()


def request_counts(exposition: str) -> dict[tuple[str, str], float]:
    """commerce_requests_total by (service, code)."""
    return {(s.labels["service"], s.labels["code"]): s.value
            for family in text_string_to_metric_families(exposition)
            for s in family.samples if s.name == "commerce_requests_total"}


def duration_buckets(exposition: str, service: str) -> dict[str, float]:
    """commerce_request_duration_seconds_bucket of `service` by its `le` edge."""
    return {s.labels["le"]: s.value
            for family in text_string_to_metric_families(exposition)
            for s in family.samples
            if s.name == "commerce_request_duration_seconds_bucket"
            and s.labels["service"] == service}


def test_it_counts_requests_by_service_and_code(engine: Engine, clock: ManualClock) -> None:
    client = zone_client(engine, clock)
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert client.get("/shop/carts").status_code == 401
    assert client.get("/nothing-here").status_code == 404
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert request_counts(response.text) == {("none", "200"): 3.0, ("carts", "401"): 1.0,
                                             ("none", "404"): 1.0}


def test_it_counts_injected_errors_as_the_client_saw_them(engine: Engine,
                                                          clock: ManualClock) -> None:
    client = zone_client(engine, clock, FaultSpec(FaultKind.ERROR_RATE, region=EU,
                                                  service="products", value=1.0))
    statuses = [client.get("/shop/products").status_code for _ in range(4)]
    assert statuses == [500] * 4
    assert request_counts(client.get("/metrics").text) == {("products", "500"): 4.0}


def test_a_scrape_is_neither_counted_nor_broken_by_faults(engine: Engine,
                                                          clock: ManualClock) -> None:
    client = zone_client(engine, clock, FaultSpec(FaultKind.ERROR_RATE, region=EU, value=1.0))
    for _ in range(3):
        assert client.get("/metrics").status_code == 200
    assert request_counts(client.get("/metrics").text) == {}


def test_it_times_requests_into_explicit_buckets(engine: Engine, clock: ManualClock) -> None:
    client = zone_client(engine, clock, FaultSpec(FaultKind.LATENCY, region=EU,
                                                  service="auth", value=120))
    client.post("/oauth/token")  # the latency fault sleeps 0.12 s on the manual clock
    buckets = duration_buckets(client.get("/metrics").text, "auth")
    assert list(buckets) == ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0",
                             "2.5", "5.0", "10.0", "+Inf"]
    assert buckets["0.1"] == 0.0
    assert buckets["0.25"] == 1.0


@pytest.mark.e2e
def test_each_zone_listener_serves_its_own_metrics(fleet: Fleet) -> None:
    listener = fleet.zones[(EU, "b")]
    assert httpx.get(f"{listener.url}/healthz", timeout=5).status_code == 200
    response = httpx.get(f"{listener.url}/metrics", timeout=5)
    assert response.status_code == 200
    samples = [s for family in text_string_to_metric_families(response.text)
               for s in family.samples if s.name == "commerce_requests_total"]
    assert samples
    assert {(s.labels["region"], s.labels["zone"]) for s in samples} == {(EU, "b")}


@pytest.fixture
def prometheus(fleet: Fleet, tmp_path: Path) -> Iterator[PrometheusServer]:
    targets = [listener.url.removeprefix("http://") for listener in fleet.zones.values()]
    with running_prometheus(tmp_path, targets) as server:
        yield server


def products_sli(region: str) -> PromqlSli:
    """Good (not 5xx) and all products requests in `region`, as cumulative counts."""
    selector = f'region="{region}",service="products"'
    return PromqlSli(good=f'sum(commerce_requests_total{{{selector},code!~"5.."}})',
                     total=f"sum(commerce_requests_total{{{selector}}})")


def settled(prometheus: PrometheusServer, sli: PromqlSli) -> SliReading:
    """A reading that two scrapes in a row agree on: `good` and `total` are two queries, and
    a scrape landing between them would pair counts of different moments."""
    last: list[SliReading] = []

    def stable() -> SliReading | None:
        reading = promql_sli(prometheus.url, sli, datetime.now(UTC))
        same = bool(last) and last[-1] == reading
        last.append(reading)
        return reading if same and len(last) > 2 else None

    return wait_until(stable, timeout=15, interval=1.1, message="a settled reading")


@pytest.mark.e2e
def test_prometheus_reads_an_injected_error_rate_as_the_sli(
        prometheus: PrometheusServer, shop: ShopClient, faults: FaultInjector) -> None:
    """1. Inject a 30 % error rate; wait for a scrape that holds every earlier count.
    2. Read the baseline, send 400 requests, poll until Prometheus has counted them all.
    3. The SLI over those requests is exactly what the client saw, and near 0.7."""
    rate, requests = 0.3, 400
    sli = products_sli(EU)
    faults.inject(FaultSpec(FaultKind.ERROR_RATE, region=EU, service="products", value=rate))
    prometheus.wait_for_scrapes_after(time.time())
    before = settled(prometheus, sli)

    with shop.http() as http:  # one connection to the router for all of them
        statuses = [http.get(f"/{shop.project_key}/products",
                             headers={"Authorization": f"Bearer {shop.token}"}).status_code
                    for _ in range(requests)]
    assert set(statuses) <= {200, 500}

    def window() -> SliReading | None:
        reading = promql_sli(prometheus.url, sli, datetime.now(UTC)).since(before)
        return reading if reading.total >= requests else None

    wait_until(window, timeout=15, interval=0.2, message="Prometheus to count them all")
    seen = settled(prometheus, sli).since(before)
    assert (seen.good, seen.total) == (statuses.count(200), requests)
    # Binomial(400, 0.7): sd of the ratio √(0.3·0.7/400) ≈ 0.023; 5 sd ≈ 0.115.
    assert seen.ratio == pytest.approx(1 - rate, abs=5 * math.sqrt(rate * (1 - rate) / requests))

