"""The commerce set's asynchronous work: delivering messages and processing imports.

Imports go in small batches; a batch that cannot be written (the region's database is down)
is retried with backoff, and progress is recorded after every batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from commerce import store
from commerce.faults import FaultView
from commerce.models import ImportJob, Project
from commerce.validation import product_fields
from core.db import SessionFactory, read_scope, session_scope
from core.errors import BellwetherError

IMPORT_BATCH_SIZE = 50
IMPORT_MAX_ATTEMPTS = 40


def deliver_pending_messages(factory: SessionFactory, faults: FaultView, regions: Sequence[str],
                             now: datetime) -> int:
    """Deliver queued messages unless every region's database is down."""
    if all(faults.database_down(region) for region in regions):
        return 0
    with read_scope(factory) as session:  # ten times a second: look before taking the lock
        if not store.has_pending_messages(session):
            return 0
    with session_scope(factory) as session:
        return store.deliver_messages(session, now)


def _import_item(session: Session, project: Project, item: object, now: datetime) -> str | None:
    """Write one product; return why it was refused, or None when it was imported."""
    try:
        if not isinstance(item, dict):
            raise BellwetherError("an item must be a JSON object")
        with session.begin_nested():
            store.create_product(session, project, product_fields(item), now, service="import")
    except BellwetherError as exc:
        return exc.detail
    return None


def _run_batch(session: Session, job: ImportJob, now: datetime) -> None:
    project = session.get(Project, job.project_id)
    assert project is not None, "an import belongs to a project"
    start = job.processed + job.failed
    errors = list(job.errors)
    for offset, item in enumerate(job.items[start:start + IMPORT_BATCH_SIZE]):
        problem = _import_item(session, project, item, now)
        if problem is None:
            job.processed += 1
        else:
            job.failed += 1
            errors.append({"index": start + offset, "error": problem})
    job.errors = errors
    job.batches_done += 1
    job.state = "succeeded" if job.processed + job.failed >= job.total else "processing"
    job.updated_at = now


def _record_failure(factory: SessionFactory, job_id: str, reason: str, now: datetime) -> None:
    with session_scope(factory) as session:
        job = session.get(ImportJob, job_id)
        if job is None:
            return
        job.attempts += 1
        job.updated_at = now
        if job.attempts >= IMPORT_MAX_ATTEMPTS:
            job.state = "failed"
            job.errors = [*job.errors, {"index": None, "error": f"gave up: {reason}"}]
        else:
            job.next_attempt_at = store.retry_time(job.attempts, now)


def process_imports(factory: SessionFactory, faults: FaultView, regions: Sequence[str],
                    clock_now: Callable[[], datetime]) -> int:
    """Run one batch of every due import; returns the batches done."""
    with read_scope(factory) as session:
        due = store.due_imports(session, regions, clock_now())
    done = 0
    for job_id in due:
        now = clock_now()
        with read_scope(factory) as session:
            job = session.get(ImportJob, job_id)
            if job is None or job.state not in ("queued", "processing"):
                continue
            region = job.region
        if faults.database_down(region):
            _record_failure(factory, job_id, f"the {region} database refuses writes", now)
            continue
        with session_scope(factory) as session:
            job = session.get(ImportJob, job_id)
            if job is not None:
                _run_batch(session, job, now)
                done += 1
    return done
