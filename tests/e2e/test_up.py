"""`bellwether up` as a newcomer runs it: URLs printed, a shop works, SIGTERM stops it cleanly."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.commerce import ShopClient
from tests.support.databases import create_database, drop_database
from tests.support.processes import BellwetherProcess

pytestmark = pytest.mark.e2e
TOKEN = "bw_e2e_admin_token_0123456789"


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    url = create_database(tmp_path, "up")
    yield url
    drop_database(url)


def _shop(process: BellwetherProcess, region: str, key: str) -> ShopClient:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    regions = httpx.get(f"{process.url}/api/v1/regions", timeout=10).json()["regions"]
    router = next(r["router_url"] for r in regions if r["name"] == region)
    made = httpx.post(f"{process.url}/api/v1/commerce/projects", headers=headers, timeout=10,
                      json={"region": region, "key": key})
    assert made.status_code == 201, made.text
    body = made.json()
    shop = ShopClient(router, key, body["client_id"], body["client_secret"])
    shop.take_token()
    return shop


def test_up_serves_a_shop_and_keeps_its_data_across_a_restart(tmp_path: Path,
                                                               database_url: str) -> None:
    first = BellwetherProcess(tmp_path / "data", database_url, TOKEN)
    try:
        printed = "\n".join(first.start())
        assert first.url in printed
        for region in ("europe-west1.gcp", "us-central1.gcp", "australia-southeast1.gcp"):
            assert f"{region}: router http://127.0.0.1:" in printed
        shop = _shop(first, "us-central1.gcp", "e2e-shop")
        order = shop.place_order()
        assert order["total_cents"] == 2 * 1999
        assert httpx.get(f"{first.url}/api/v1/openapi.json", timeout=10).status_code == 200
    finally:
        assert first.stop(signal.SIGTERM) == 0
    assert "stopped" in first.lines

    second = BellwetherProcess(tmp_path / "data", database_url, TOKEN, port=first.port)
    try:
        second.start()
        regions = httpx.get(f"{second.url}/api/v1/regions", timeout=10).json()["regions"]
        router = next(r["router_url"] for r in regions if r["name"] == "us-central1.gcp")
        again = ShopClient(router, "e2e-shop", shop.client_id, shop.client_secret)
        again.take_token()
        listed = again.call("GET", "/products")
        assert listed.status_code == 200
        assert len(listed.json()["results"]) == 1
    finally:
        assert second.stop(signal.SIGINT) == 0
