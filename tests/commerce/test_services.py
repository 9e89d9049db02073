"""The commerce services through a real region router: tokens, tenants, the shop flow,
eventual consistency, imports, the audit log and bad input."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import Engine, func, select

from commerce.fleet import Fleet
from commerce.models import Product
from core.db import make_session_factory
from tests.commerce.conftest import new_shop
from tests.support.commerce import ShopClient
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


def test_it_issues_a_token_for_client_credentials(shop: ShopClient) -> None:
    with shop.http() as http:
        response = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                             auth=(shop.client_id, shop.client_secret))
    body = response.json()
    assert response.status_code == 200
    assert body["token_type"] == "Bearer"
    assert body["scope"] == f"manage_project:{shop.project_key}"
    assert body["expires_in"] == 3600


def test_it_refuses_wrong_client_secret(shop: ShopClient) -> None:
    with shop.http() as http:
        response = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                             auth=(shop.client_id, "wrong"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Bearer v1.x.1.ab.forged",
                                    "Basic abc"])
def test_it_refuses_calls_without_a_valid_token(shop: ShopClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    with shop.http() as http:
        response = http.get(f"/{shop.project_key}/products", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_it_refuses_an_expired_token(shop: ShopClient) -> None:
    # Long enough that a loaded machine still makes the first call in time.
    shop.take_token(expires_in=4)
    assert shop.call("GET", "/products").status_code == 200
    wait_until(lambda: shop.call("GET", "/products").status_code == 401, timeout=10,
               message="the token to expire")


def test_one_project_never_sees_another(fleet: Fleet, engine: Engine, shop: ShopClient) -> None:
    other = new_shop(fleet, engine)
    product = other.create_product(name="Secret sneaker")
    assert shop.call("GET", "/products").json()["total"] == 0
    assert shop.call("GET", f"/products/{product['id']}").status_code == 404
    assert shop.call("GET", "/search", params={"q": "sneaker"}).json()["total"] == 0
    borrowed = httpx.get(f"{shop.base_url}/{other.project_key}/products",
                         headers={"Authorization": f"Bearer {shop.token}"})
    assert borrowed.status_code == 403


def test_search_finds_products_by_name(shop: ShopClient) -> None:
    shop.create_product(name="Blue running shoe")
    shop.create_product(name="Green hat")
    found = shop.call("GET", "/search", params={"q": "SHOE"}).json()
    assert [p["name"] for p in found["results"]] == ["Blue running shoe"]


def test_an_order_message_arrives_eventually(shop: ShopClient) -> None:
    order = shop.place_order()
    assert order["total_cents"] == 2 * 1999

    def delivered() -> list[dict[str, object]]:
        results = shop.call("GET", "/messages", params={"resource_id": order["id"]}).json()
        return list(results["results"])

    messages = wait_until(delivered, timeout=5, message="the OrderCreated message")
    assert messages[0]["type"] == "OrderCreated"
    assert messages[0]["payload"] == order


def test_a_cart_cannot_be_ordered_twice(shop: ShopClient) -> None:
    order = shop.place_order()
    again = shop.call("POST", "/orders", json={"cart_id": order["cart_id"]})
    assert again.status_code == 409


def test_import_processes_a_thousand_items_in_batches(shop: ShopClient) -> None:
    items = [{"sku": f"imp-{i}", "name": f"Imported {i}", "price_cents": i} for i in range(1000)]
    items[7] = {"sku": "bad", "name": "", "price_cents": 1}
    accepted = shop.call("POST", "/imports", json={"items": items})
    assert accepted.status_code == 202
    job_id = accepted.json()["id"]
    seen_progress: set[int] = set()

    def finished() -> dict[str, object] | None:
        job = shop.call("GET", f"/imports/{job_id}").json()
        seen_progress.add(int(job["processed"]) + int(job["failed"]))
        return dict(job) if job["state"] == "succeeded" else None

    job = wait_until(finished, timeout=60, interval=0.02, message="the import to finish")
    assert job["processed"] == 999
    assert job["failed"] == 1
    assert job["batches_done"] == 20
    assert any(0 < n < 1000 for n in seen_progress), "progress is reported between batches"
    assert shop.call("GET", "/products", params={"limit": 1}).json()["total"] == 999


def test_the_audit_log_records_every_change(shop: ShopClient) -> None:
    order = shop.place_order()
    entries = shop.call("GET", "/audit-log").json()["results"]
    actions = [(e["service"], e["action"], e["resource_type"]) for e in entries]
    assert ("orders", "create", "order") in actions
    assert ("carts", "add_line_item", "cart") in actions
    assert ("carts", "create", "cart") in actions
    assert ("products", "create", "product") in actions
    assert any(e["resource_id"] == order["id"] for e in entries)


def _product_count(engine: Engine) -> int:
    with make_session_factory(engine)() as session:
        return int(session.scalar(select(func.count()).select_from(Product)) or 0)


@pytest.mark.parametrize(("body", "content_type", "status", "code"), [
    (b"{not json", "application/json", 400, "malformed_json"),
    (b"[1, 2]", "application/json", 400, "malformed_json"),
    (json.dumps({"sku": "x", "name": "y", "price_cents": "12"}).encode(), "application/json",
     400, "invalid_input"),
    (json.dumps({"sku": "x", "name": "y", "price_cents": True}).encode(), "application/json",
     400, "invalid_input"),
    (json.dumps({"sku": "x", "name": "y", "price_cents": -1}).encode(), "application/json",
     400, "invalid_input"),
    (json.dumps({"sku": "x", "name": "y", "price_cents": 1, "currency": "euro"}).encode(),
     "application/json", 400, "invalid_input"),
    (b"sku=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    (b"{" + b" " * (70 * 1024) + b"}", "application/json", 413, "request_entity_too_large"),
])
def test_bad_input_gets_a_clear_error_and_stores_nothing(
        shop: ShopClient, engine: Engine, body: bytes, content_type: str, status: int,
        code: str) -> None:
    before = _product_count(engine)
    response = shop.call("POST", "/products", content=body,
                         headers={"Content-Type": content_type})
    assert response.status_code == status
    assert response.json()["error"] == code
    assert response.json()["detail"]
    assert _product_count(engine) == before


def test_an_unknown_project_is_refused(shop: ShopClient) -> None:
    with shop.http() as http:
        response = http.get("/no-such-project/products",
                            headers={"Authorization": f"Bearer {shop.token}"})
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_a_line_item_for_an_unknown_product_is_refused(shop: ShopClient) -> None:
    cart = shop.call("POST", "/carts", json={"currency": "EUR"}).json()
    response = shop.call("POST", f"/carts/{cart['id']}/line-items",
                         json={"product_id": "nope", "quantity": 1})
    assert response.status_code == 404
    assert shop.call("GET", f"/carts/{cart['id']}").json()["line_items"] == []
