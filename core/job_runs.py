"""When each background job last ran and last succeeded (`job_runs`): how `/healthz` and
`/metrics` tell that a job, above all evaluation, has stopped. One upsert per pass."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.db import SessionFactory, session_scope
from core.models import JobRun

#: The evaluation job's name and interval (`probes.jobs`), as `/healthz` watches it.
EVALUATOR = "probes.evaluate"
EVALUATOR_EVERY = timedelta(seconds=1)


def record_job_run(session: Session, name: str, at: datetime, ok: bool) -> None:
    """Upsert the job's last run (and last success when `ok`)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    values = {"name": name, "last_run_at": at, "last_ok_at": at if ok else None}
    update = {"last_run_at": at, **({"last_ok_at": at} if ok else {})}
    session.execute(dialect.insert(JobRun).values(values)
                    .on_conflict_do_update(index_elements=["name"], set_=update))


def job_runs(session: Session) -> dict[str, tuple[datetime, datetime | None]]:
    """Every job's (last run, last success)."""
    return {row.name: (row.last_run_at, row.last_ok_at)
            for row in session.scalars(select(JobRun))}


def read_job_runs(factory: SessionFactory) -> dict[str, datetime]:
    """Every job's last run, in a session of its own (for `/metrics`)."""
    with session_scope(factory) as session:
        return {name: run for name, (run, _) in job_runs(session).items()}


def stale_after(every: timedelta) -> timedelta:
    """How old a job's last run may be before it counts as stopped: 5 intervals, ≥ 10 s."""
    return max(timedelta(seconds=10), 5 * every)


def evaluator_health(last_run: datetime | None, started_at: datetime, now: datetime,
                     runs_jobs: bool) -> str | None:
    """Why the evaluator looks stopped, or None when it looks fine.

    A process younger than the limit is never blamed (its scheduler's first pass is due);
    without any recorded run only a process that runs the jobs itself can tell it should
    have one (`bellwether web` alone cannot know whether workers exist yet).
    """
    limit = stale_after(EVALUATOR_EVERY)
    if now - started_at <= limit:
        return None
    if last_run is None:
        return (f"the evaluator has not run in the {limit.total_seconds():g} s since start"
                if runs_jobs else None)
    age = now - last_run
    if age > limit:
        return (f"the evaluator last ran {age.total_seconds():.0f} s ago "
                f"(limit {limit.total_seconds():g} s)")
    return None
