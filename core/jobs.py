"""Core's background job: scheduled backups with retention (the RPO is 2 h by default)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from core.backup import backup_now, list_backups
from core.config import Settings
from core.db import read_scope, try_singleton
from core.scheduler import Job, JobContext


def backup_dir(settings: Settings) -> Path:
    return Path(str(settings.extra.get("backup_dir", settings.data_dir / "backups")))


def backup_interval(settings: Settings) -> timedelta:
    return timedelta(minutes=float(settings.extra.get("backup_interval_minutes", 60)))


def scheduled_backup(ctx: JobContext) -> int:
    """Take a verified backup when the newest is older than the interval; prune old ones.
    A failed one (its integrity check included) raises, so the scheduler logs it too."""
    directory = backup_dir(ctx.settings)
    now = ctx.clock.now()
    newest = next(iter(list_backups(directory)), None)
    if newest is not None and newest.age(now) < backup_interval(ctx.settings):
        return 0
    # A read scope: the online backup only reads, so SQLite's write lock stays free while it
    # copies (it was held for the whole copy); on PostgreSQL the advisory lock still makes
    # it one worker's job.
    with read_scope(ctx.session_factory) as session:
        if not try_singleton(session, "core.backup"):
            return 0
        backup_now(ctx.settings.effective_database_url, directory, now,
                   int(ctx.settings.extra.get("backup_keep", 24)))
    return 1


JOBS = (Job("core.backup", timedelta(minutes=5), scheduled_backup,
            "back the database up when the newest backup is older than the interval"),)
