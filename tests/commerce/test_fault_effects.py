"""Each fault kind does what it says, seen from a client of the region router."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import Engine

from commerce.faults import FaultKind, FaultSpec
from commerce.fleet import Fleet
from tests.commerce.conftest import FaultInjector, new_shop
from tests.support.commerce import ShopClient
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e
EU = "europe-west1.gcp"
US = "us-central1.gcp"


def test_a_zone_failure_is_absorbed_by_the_router(fleet: Fleet, shop: ShopClient,
                                                  faults: FaultInjector) -> None:
    faults.inject(FaultSpec(FaultKind.ZONE_DOWN, region=EU, zone="b"))
    router = fleet.region_routers[EU]
    wait_until(lambda: "b" not in router.healthy, timeout=2, message="the router to notice")
    statuses = [shop.call("GET", "/products").status_code for _ in range(200)]
    assert statuses == [200] * 200
    zones = {shop.call("GET", "/products").headers["X-Bellwether-Zone"] for _ in range(12)}
    assert zones == {f"{EU}/a", f"{EU}/c"}


def test_requests_in_flight_are_retried_on_another_zone_before_the_router_notices(
        fleet: Fleet, shop: ShopClient, faults: FaultInjector) -> None:
    faults.inject(FaultSpec(FaultKind.ZONE_DOWN, region=EU, zone="a"))
    fleet.region_routers[EU].mark("a", True)  # the health check has not run yet
    assert all(shop.call("GET", "/products").status_code == 200 for _ in range(20))


def test_a_region_failure_fails_fast(fleet: Fleet, shop: ShopClient,
                                     faults: FaultInjector) -> None:
    faults.inject(FaultSpec(FaultKind.REGION_DOWN, region=EU))
    started = time.monotonic()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{fleet.routers[EU].url}/{shop.project_key}/products", timeout=5)
    assert time.monotonic() - started < 1.0
    for zone in "abc":
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{fleet.zones[(EU, zone)].url}/healthz", timeout=5)


def test_a_region_comes_back_when_the_fault_is_cleared(fleet: Fleet, shop: ShopClient,
                                                       faults: FaultInjector) -> None:
    faults.inject(FaultSpec(FaultKind.REGION_DOWN, region=EU))
    faults.clear_all()
    wait_until(lambda: _status(shop) == 200, timeout=5, message="the region to come back")


def _status(shop: ShopClient) -> int:
    try:
        return shop.call("GET", "/products").status_code
    except httpx.HTTPError:
        return 0


def test_auth_down_makes_every_service_in_the_region_refuse(
        fleet: Fleet, engine: Engine, shop: ShopClient, faults: FaultInjector) -> None:
    us_shop = new_shop(fleet, engine, US)
    faults.inject(FaultSpec(FaultKind.AUTH_DOWN, region=EU))
    for path in ("/products", "/search?q=x", "/messages", "/audit-log"):
        response = shop.call("GET", path)
        assert response.status_code == 503, path
        assert response.json()["error"] == "auth_unavailable"
    assert shop.call("POST", "/carts", json={"currency": "EUR"}).status_code == 503
    with shop.http() as http:
        token = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                          auth=(shop.client_id, shop.client_secret))
    assert token.status_code == 503
    assert us_shop.call("GET", "/products").status_code == 200


def test_service_down_stops_only_that_service(shop: ShopClient,
                                              faults: FaultInjector) -> None:
    faults.inject(FaultSpec(FaultKind.SERVICE_DOWN, region=EU, service="import"))
    refused = shop.call("POST", "/imports", json={"items": [{"sku": "a", "name": "b",
                                                             "price_cents": 1}]})
    assert refused.status_code == 503
    assert refused.json()["error"] == "service_unavailable"
    assert shop.call("GET", "/audit-log").status_code == 200
    shop.place_order()


def test_latency_adds_what_it_says(shop: ShopClient, faults: FaultInjector) -> None:
    def timings_ms() -> list[float]:
        timings = []
        for _ in range(7):
            started = time.perf_counter()
            assert shop.call("GET", "/products").status_code == 200
            timings.append((time.perf_counter() - started) * 1000)
        return sorted(timings)

    before = timings_ms()
    faults.inject(FaultSpec(FaultKind.LATENCY, region=EU, service="products", value=150))
    after = timings_ms()
    # Every answer waits the added 150 ms; a loaded machine only ever adds more.
    assert after[0] >= 150
    assert after[3] > before[3]


def test_error_rate_fails_that_share_of_requests(shop: ShopClient,
                                                 faults: FaultInjector) -> None:
    faults.inject(FaultSpec(FaultKind.ERROR_RATE, region=EU, service="products", value=0.3))
    statuses = [shop.call("GET", "/products").status_code for _ in range(400)]
    failures = statuses.count(500)
    assert set(statuses) <= {200, 500}
    # Binomial(400, 0.3): mean 120, sd 9.2; the bounds are more than 5 sd wide.
    assert 72 <= failures <= 168


def test_database_down_refuses_writes_and_serves_reads(shop: ShopClient,
                                                       faults: FaultInjector) -> None:
    product = shop.create_product()
    faults.inject(FaultSpec(FaultKind.DATABASE_DOWN, region=EU))
    write = shop.call("POST", "/carts", json={"currency": "EUR"})
    assert write.status_code == 503
    assert write.json()["error"] == "database_unavailable"
    assert shop.call("GET", f"/products/{product['id']}").status_code == 200
    assert shop.call("GET", "/search", params={"q": "shoe"}).status_code == 200
    assert shop.take_token()


def test_an_import_waits_out_a_database_outage(shop: ShopClient,
                                               faults: FaultInjector) -> None:
    items = [{"sku": f"w-{i}", "name": f"Item {i}", "price_cents": 1} for i in range(120)]
    job_id = shop.call("POST", "/imports", json={"items": items}).json()["id"]
    faults.inject(FaultSpec(FaultKind.DATABASE_DOWN, region=EU))
    wait_until(lambda: shop.call("GET", f"/imports/{job_id}").json()["attempts"] >= 2,
               timeout=10, message="retries while the database is down")
    faults.clear_all()
    job = wait_until(lambda: (j := shop.call("GET", f"/imports/{job_id}").json())["state"]
                     == "succeeded" and j, timeout=30, message="the import to finish")
    assert job["processed"] == 120


def test_a_fault_with_a_duration_clears_itself(fleet: Fleet, shop: ShopClient,
                                               faults: FaultInjector) -> None:
    faults.inject(FaultSpec(FaultKind.SERVICE_DOWN, region=EU, service="products",
                            duration_s=1))
    assert shop.call("GET", "/products").status_code == 503
    wait_until(lambda: shop.call("GET", "/products").status_code == 200, timeout=5,
               message="the fault to expire")
