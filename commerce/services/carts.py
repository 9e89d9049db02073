"""carts: create a cart, add line items, read it back."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from commerce import store
from commerce.validation import currency_field, int_field, text_field
from commerce.zone import (
    current_project,
    require_writable,
    zone_context,
    zone_session,
    zone_write_session,
)
from core.web import json_body

bp = Blueprint("carts", __name__)


@bp.post("/<project_key>/carts")
def create_cart(project_key: str) -> Any:
    currency = currency_field(json_body())
    require_writable()
    session = zone_write_session()
    cart = store.create_cart(session, current_project(), currency, zone_context().clock.now())
    session.commit()
    return jsonify(store.cart_json(zone_session(), cart)), 201


@bp.get("/<project_key>/carts/<cart_id>")
def get_cart(project_key: str, cart_id: str) -> Any:
    session = zone_session()
    return jsonify(store.cart_json(session, store.get_cart(session, current_project(), cart_id)))


@bp.post("/<project_key>/carts/<cart_id>/line-items")
def add_line_item(project_key: str, cart_id: str) -> Any:
    body = json_body()
    product_id = text_field(body, "product_id", max_len=36)
    quantity = int_field(body, "quantity", minimum=1, maximum=10_000)
    require_writable()
    session = zone_write_session()
    project = current_project()
    cart = store.get_cart(session, project, cart_id)
    store.add_line_item(session, project, cart, product_id, quantity, zone_context().clock.now())
    session.commit()
    return jsonify(store.cart_json(zone_session(), cart)), 201
