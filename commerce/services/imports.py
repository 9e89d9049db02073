"""import (Tier 2): accept a batch of products now, process it in the background."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from commerce import store
from commerce.models import ImportJob
from commerce.validation import InvalidInput
from commerce.zone import (
    current_project,
    require_writable,
    zone_context,
    zone_session,
    zone_write_session,
)
from core.web import json_body

bp = Blueprint("imports", __name__)

MAX_ITEMS = 10_000


def import_json(job: ImportJob) -> dict[str, Any]:
    return {"id": job.id, "state": job.state, "total": job.total, "processed": job.processed,
            "failed": job.failed, "batches_done": job.batches_done, "attempts": job.attempts,
            "errors": job.errors[:50], "created_at": job.created_at.isoformat(),
            "updated_at": job.updated_at.isoformat()}


@bp.post("/<project_key>/imports")
def create_import(project_key: str) -> Any:
    items = json_body().get("items")
    if not isinstance(items, list) or not items or len(items) > MAX_ITEMS:
        raise InvalidInput(f"'items' must be a list of 1..{MAX_ITEMS} products")
    if not all(isinstance(item, dict) for item in items):
        raise InvalidInput("every item must be a JSON object")
    require_writable()
    session = zone_write_session()
    job = store.create_import(session, current_project(), items, zone_context().clock.now())
    session.commit()
    return jsonify(import_json(job)), 202


@bp.get("/<project_key>/imports/<job_id>")
def get_import(project_key: str, job_id: str) -> Any:
    return jsonify(import_json(store.get_import(zone_session(), current_project(), job_id)))
