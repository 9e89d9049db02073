"""messages: the events changes produce, readable once delivered (eventual consistency)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from commerce import store
from commerce.validation import InvalidInput, paging
from commerce.zone import current_project, zone_session

bp = Blueprint("messages", __name__)


@bp.get("/<project_key>/messages")
def list_messages(project_key: str) -> Any:
    limit, _ = paging(request.args, default_limit=100)
    after = request.args.get("after_id", "0")
    if not after.isdigit():
        raise InvalidInput("'after_id' must be a whole number")
    rows = store.list_messages(zone_session(), current_project(), int(after),
                               request.args.get("resource_id") or None, limit)
    return jsonify({"results": [
        {"id": m.id, "type": m.type, "resource_id": m.resource_id, "payload": m.payload,
         "created_at": m.created_at.isoformat(),
         "delivered_at": m.delivered_at.isoformat() if m.delivered_at else None}
        for m in rows]})
