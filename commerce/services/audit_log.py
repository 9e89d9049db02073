"""audit-log (Tier 2): every change any service made in the project."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from commerce import store
from commerce.validation import paging
from commerce.zone import current_project, zone_session

bp = Blueprint("audit_log", __name__)


@bp.get("/<project_key>/audit-log")
def list_audit(project_key: str) -> Any:
    limit, _ = paging(request.args, default_limit=100)
    rows = store.list_audit(zone_session(), current_project(),
                            request.args.get("resource_type") or None, limit)
    return jsonify({"results": [
        {"id": e.id, "service": e.service, "action": e.action, "resource_type": e.resource_type,
         "resource_id": e.resource_id, "at": e.at.isoformat()} for e in rows]})
