"""products (list, get, create) and search (a query over products)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from commerce import store
from commerce.validation import InvalidInput, paging, product_fields
from commerce.zone import (
    current_project,
    require_writable,
    zone_context,
    zone_session,
    zone_write_session,
)
from core.web import json_body

bp = Blueprint("products", __name__)


@bp.get("/<project_key>/products")
def list_products(project_key: str) -> Any:
    limit, offset = paging(request.args)
    rows, total = store.list_products(zone_session(), current_project(), limit, offset)
    return jsonify({"results": [store.product_json(p) for p in rows], "total": total,
                    "limit": limit, "offset": offset})


@bp.get("/<project_key>/products/<product_id>")
def get_product(project_key: str, product_id: str) -> Any:
    return jsonify(store.product_json(
        store.get_product(zone_session(), current_project(), product_id)))


@bp.post("/<project_key>/products")
def create_product(project_key: str) -> Any:
    fields = product_fields(json_body())
    require_writable()
    session = zone_write_session()
    product = store.create_product(session, current_project(), fields, zone_context().clock.now())
    session.commit()
    return jsonify(store.product_json(product)), 201


@bp.get("/<project_key>/search")
def search(project_key: str) -> Any:
    text = request.args.get("q", "").strip()
    if not text or len(text) > 200:
        raise InvalidInput("'q' must be 1..200 characters")
    limit, offset = paging(request.args)
    rows, total = store.list_products(zone_session(), current_project(), limit, offset, text)
    return jsonify({"query": text, "results": [store.product_json(p) for p in rows],
                    "total": total})
