"""orders: order a cart. The order is strongly consistent; its message arrives eventually."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from commerce import store
from commerce.validation import text_field
from commerce.zone import (
    current_project,
    require_writable,
    zone_context,
    zone_session,
    zone_write_session,
)
from core.web import json_body

bp = Blueprint("orders", __name__)


@bp.post("/<project_key>/orders")
def create_order(project_key: str) -> Any:
    cart_id = text_field(json_body(), "cart_id", max_len=36)
    require_writable()
    session = zone_write_session()
    project = current_project()
    cart = store.get_cart(session, project, cart_id)
    order = store.create_order(session, project, cart, zone_context().clock.now())
    session.commit()
    return jsonify(store.order_json(order)), 201


@bp.get("/<project_key>/orders/<order_id>")
def get_order(project_key: str, order_id: str) -> Any:
    return jsonify(store.order_json(
        store.get_order(zone_session(), current_project(), order_id)))
