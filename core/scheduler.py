"""Background jobs: each a named function in a package's job table, run by APScheduler
or by hand (`bellwether jobs run NAME`).

Several workers are safe because every job claims its rows in the database, never because
only one scheduler runs: APScheduler's job stores must not be shared between processes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from core.clock import Clock
from core.config import Settings
from core.db import SessionFactory, holding_as, is_lock_timeout
from core.errors import NotFound

log = logging.getLogger("bellwether.jobs")


@dataclass
class JobContext:
    """What every job gets: never an app context, always arguments."""

    settings: Settings
    clock: Clock
    session_factory: SessionFactory
    parts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Job:
    """A background job: its stable name, how often it runs, and what it does.

    `run` returns how many items it handled, for logs and `bellwether jobs run`. With
    `offset` the job runs on the clock, at every multiple of `every` plus `offset` (a
    minute's job 3 s past each minute, when the minute before has closed), instead of
    `every` after the scheduler started: work that follows a period closing is done once
    per period, and the scheduler never wakes for it in between.
    """

    name: str
    every: timedelta
    run: Callable[[JobContext], int]
    description: str = ""
    offset: timedelta | None = None


def find_job(jobs: Iterable[Job], name: str) -> Job:
    for job in jobs:
        if job.name == name:
            return job
    raise NotFound(f"no job named {name!r}; `bellwether jobs list` shows them")


def _guarded(job: Job, ctx: JobContext) -> Callable[[], None]:
    def run() -> None:
        try:
            with holding_as(job.name):
                job.run(ctx)
        except Exception as exc:  # a failing pass is logged and tried again next interval
            if is_lock_timeout(exc):  # SQLite's write lock stayed taken: not a failure
                log.warning("job %s skipped a pass: the database's write lock stayed busy; "
                            "it runs again at its next interval", job.name)
                return
            log.exception("job %s failed", job.name)

    return run


class _StillRunning(logging.Filter):
    """A pass that outlasts its interval is not news: the next one simply waits (coalesced,
    one at a time). APScheduler warns of every such skip ("maximum number of running
    instances reached"), which for the 0.25 s page lane during a slow write flooded the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances" not in record.getMessage()


_STILL_RUNNING = _StillRunning()


#: Where the multiples of an `offset` job's interval are counted from.
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def trigger_of(job: Job, interval_scale: float = 1.0) -> IntervalTrigger:
    """Every `every` seconds from the scheduler's start, or on the clock for an `offset`
    job (its multiples of `every` since 2000-01-01 UTC, plus the offset)."""
    seconds = max(0.2, job.every.total_seconds() * interval_scale)
    if job.offset is None:
        return IntervalTrigger(seconds=seconds, timezone=UTC)
    return IntervalTrigger(seconds=seconds, start_date=_EPOCH + job.offset, timezone=UTC)


def build_scheduler(jobs: Sequence[Job], ctx: JobContext,
                    interval_scale: float = 1.0) -> BackgroundScheduler:
    """One in-memory APScheduler with every job, coalesced, never two runs of one job at once."""
    logger = logging.getLogger("apscheduler.scheduler")
    if _STILL_RUNNING not in logger.filters:
        logger.addFilter(_STILL_RUNNING)
    scheduler = BackgroundScheduler(timezone="UTC")
    for job in jobs:
        trigger = trigger_of(job, interval_scale)
        grace = max(1, int(trigger.interval_length))
        scheduler.add_job(_guarded(job, ctx), trigger, id=job.name, name=job.name,
                          replace_existing=True, coalesce=True, max_instances=1,
                          misfire_grace_time=grace)
    return scheduler
