"""A small client for the commerce set, as a shop (or a probe) would use it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class ShopClient:
    """Talks to one region router with one project's credentials."""

    base_url: str
    project_key: str
    client_id: str
    client_secret: str
    token: str = ""

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10)

    def take_token(self, expires_in: int | None = None) -> str:
        data = {"grant_type": "client_credentials"}
        if expires_in is not None:
            data["expires_in"] = str(expires_in)
        with self.http() as http:
            response = http.post("/oauth/token", data=data,
                                 auth=(self.client_id, self.client_secret))
        response.raise_for_status()
        self.token = str(response.json()["access_token"])
        return self.token

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        with self.http() as http:
            return http.request(method, f"/{self.project_key}{path}", headers=headers, **kwargs)

    def create_product(self, name: str = "Red shoe", price_cents: int = 1999) -> dict[str, Any]:
        response = self.call("POST", "/products", json={
            "sku": f"sku-{uuid.uuid4().hex[:10]}", "name": name, "price_cents": price_cents})
        assert response.status_code == 201, response.text
        return dict(response.json())

    def place_order(self) -> dict[str, Any]:
        """Cart → line item → order, the paper's core shop flow."""
        product = self.create_product()
        cart = self.call("POST", "/carts", json={"currency": "EUR"})
        assert cart.status_code == 201, cart.text
        cart_id = cart.json()["id"]
        item = self.call("POST", f"/carts/{cart_id}/line-items",
                         json={"product_id": product["id"], "quantity": 2})
        assert item.status_code == 201, item.text
        order = self.call("POST", "/orders", json={"cart_id": cart_id})
        assert order.status_code == 201, order.text
        return dict(order.json())
