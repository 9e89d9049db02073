"""The web app's own health check and its OpenAPI document."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from flask.blueprints import BlueprintSetupState
from sqlalchemy.exc import SQLAlchemyError

from core.backup import RPO, list_backups
from core.job_runs import EVALUATOR, evaluator_health, job_runs
from core.jobs import backup_dir
from core.openapi import build_document, operation
from core.runtime import Runtime
from core.schemas import Backups
from core.web import current_runtime, request_session, require_role

bp = Blueprint("core", __name__)
STARTED_AT = "core.started_at"


@bp.record_once
def _remember_start(state: BlueprintSetupState) -> None:
    """When this process's app was built: a young process is not blamed for a job's age."""
    runtime = state.app.extensions.get("bellwether")
    if isinstance(runtime, Runtime):
        runtime.parts.setdefault(STARTED_AT, runtime.clock.now())


@bp.get("/healthz")
def healthz() -> Any:
    """200 while the database answers and the evaluator runs; 503 with the reason when not.

    The evaluator's last pass is read from `job_runs`, so `bellwether web` (which runs no
    jobs) tells as well as `bellwether up` whether the workers' evaluation has stopped.
    """
    runtime = current_runtime()
    now = runtime.clock.now()
    try:
        last = job_runs(request_session()).get(EVALUATOR)
    except SQLAlchemyError as exc:
        return jsonify({"status": "unavailable",
                        "reason": f"database: {type(exc).__name__}"}), 503
    last_run = last[0] if last else None
    reason = evaluator_health(last_run, runtime.parts.get(STARTED_AT, now), now,
                              runs_jobs=runtime.parts.get("probes") is not None)
    body = {"status": "ok" if reason is None else "unavailable",
            "evaluator_last_run_at": last_run.isoformat() if last_run else None}
    if reason is not None:
        return jsonify({**body, "reason": reason}), 503
    return jsonify(body)


@bp.get("/favicon.ico")
def favicon() -> Any:
    """The icon every page links, and what browsers ask for on their own (a badge SVG opened
    as a page, for one): from memory, so no file handle outlives a request the browser cut."""
    return Response(_favicon_svg(), mimetype="image/svg+xml",
                    headers={"Cache-Control": "public, max-age=86400"})


@functools.cache
def _favicon_svg() -> bytes:
    assert current_app.static_folder is not None
    return (Path(current_app.static_folder) / "favicon.svg").read_bytes()


@bp.get("/api/v1/openapi.json")
def openapi_document() -> Any:
    """The OpenAPI 3.1 document for every `/api/v1` and `/api/v2` endpoint."""
    return jsonify(build_document(current_app))


@bp.get("/api/v1/backups")
@operation(responses={200: Backups}, tags=("operations",))
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
