"""The web app's own health check and its OpenAPI document."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

from core.backup import RPO, list_backups
from core.jobs import backup_dir
from core.openapi import build_document, operation
from core.web import current_runtime, require_role

bp = Blueprint("core", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    return jsonify({"status": "ok"})


@bp.get("/api/v1/openapi.json")
def openapi_document() -> Any:
    """The OpenAPI 3 document for every `/api/v1` endpoint."""
    return jsonify(build_document(current_app))


@bp.get("/api/v1/backups")
@operation(tags=("operations",))
@require_role()
def backups() -> Any:
    """The backups on disk, newest first, and the newest one's age against the RPO (admin)."""
    runtime = current_runtime()
    now = runtime.clock.now()
    found = list_backups(backup_dir(runtime.settings))
    newest = found[0] if found else None
    age = newest.age(now).total_seconds() if newest else None
    return jsonify({
        "rpo_s": RPO.total_seconds(), "newest_age_s": age,
        "rpo_met": age is not None and age <= RPO.total_seconds(),
        "backups": [{"file": b.path.name, "taken_at": b.taken_at.isoformat(), "bytes": b.size}
                    for b in found]})
