"""Backups and restores of Bellwether's own database.

SQLite is copied with its online backup API (a consistent copy while Bellwether writes);
PostgreSQL with `pg_dump --format=custom`, restored with `pg_restore`. Backups are files
named by their time in one directory, pruned to a retention count; the newest one's age
is what the recovery point objective (2 h by default, the SLA spec's RPO) is judged on.

Every backup is verified before it counts: a SQLite copy must pass `PRAGMA integrity_check`,
a PostgreSQL archive must be read whole by `pg_restore` (into a script thrown away). A copy
that fails is deleted and the backup fails loudly: logged, kept in `last-failure.json` in
the backup directory (what the admin area and `/metrics` show) until a backup succeeds.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import make_url

from core.clock import Clock
from core.errors import BellwetherError

STAMP = "%Y%m%dT%H%M%SZ"
PREFIX = "bellwether-"
RPO = timedelta(hours=2)
#: Where the last failed attempt is kept (removed by the next backup that succeeds).
FAILURE_FILE = "last-failure.json"
log = logging.getLogger("bellwether.backup")


class BackupFailed(BellwetherError):
    status = 500
    code = "backup_failed"


class IntegrityFailed(BackupFailed):
    """The copy was written but does not read back whole: it is not a backup."""

    code = "backup_integrity_failed"


@dataclass(frozen=True, slots=True)
class Backup:
    path: Path
    taken_at: datetime
    size: int

    def age(self, now: datetime) -> timedelta:
        return now - self.taken_at


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupFailed("an in-memory SQLite database cannot be backed up")
    return Path(database)


def _pg_args(url: str) -> list[str]:
    parsed = make_url(url)
    args = ["--host", parsed.host or "127.0.0.1", "--port", str(parsed.port or 5432),
            "--username", parsed.username or "postgres", "--no-password"]
    return args


def _pg_env(url: str) -> dict[str, str]:
    env = {"PATH": os.defpath + ":/usr/bin:/usr/local/bin"}
    password = make_url(url).password
    if password:
        env["PGPASSWORD"] = str(password)
    return env


def take_backup(url: str, directory: Path, now: datetime) -> Backup:
    """Write a consistent backup of the database at `url` into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = now.astimezone(UTC).strftime(STAMP)
    if url.startswith("sqlite"):
        target = directory / f"{PREFIX}{stamp}.sqlite"
        _sqlite_backup(_sqlite_path(url), target)
    else:
        target = directory / f"{PREFIX}{stamp}.pgdump"
        _run(["pg_dump", *_pg_args(url), "--format=custom", "--file", str(target) + ".part",
              "--dbname", str(make_url(url).database)], url)
        try:
            verify_backup(Path(str(target) + ".part"))
        except BackupFailed:
            Path(str(target) + ".part").unlink(missing_ok=True)
            raise
        os.replace(str(target) + ".part", target)
    return Backup(target, now, target.stat().st_size)


def _sqlite_backup(source: Path, target: Path) -> None:
    """Copy `source` to `target` page by page; the copy must pass `PRAGMA integrity_check`
    before it is renamed into place (a failed copy is deleted, never left as a backup)."""
    partial = target.with_suffix(".part")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(partial)
    try:
        src.backup(dst)
        problems = _integrity_problems(dst)
    except sqlite3.DatabaseError as exc:
        problems = [str(exc)]
    finally:
        dst.close()
        src.close()
    if problems:
        partial.unlink(missing_ok=True)
        raise IntegrityFailed(f"the copy of {source.name} failed its integrity check: "
                              + "; ".join(problems[:5]))
    os.replace(partial, target)


def _integrity_problems(connection: sqlite3.Connection) -> list[str]:
    """What `PRAGMA integrity_check` found wrong (empty when it says "ok")."""
    rows = [str(row[0]) for row in connection.execute("PRAGMA integrity_check").fetchall()]
    return [] if rows == ["ok"] else rows


def verify_backup(path: Path) -> None:
    """Raise IntegrityFailed unless the backup at `path` reads back whole: SQLite's
    `PRAGMA integrity_check`, or `pg_restore` reading every entry of the archive into a
    script that is thrown away (no database needed)."""
    if path.suffix == ".sqlite":
        try:
            connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                problems = _integrity_problems(connection)
            finally:
                connection.close()
        except sqlite3.DatabaseError as exc:
            problems = [str(exc)]
        if problems:
            raise IntegrityFailed(f"{path.name} failed its integrity check: "
                                  + "; ".join(problems[:5]))
        return
    if shutil.which("pg_restore") is None:
        raise BackupFailed("pg_restore is not installed (Debian: postgresql-client)")
    done = subprocess.run(["pg_restore", "--file", os.devnull, str(path)],
                          env={"PATH": os.defpath + ":/usr/bin:/usr/local/bin"},
                          capture_output=True, text=True, timeout=3600, check=False)
    if done.returncode != 0:
        raise IntegrityFailed(f"{path.name} does not read back whole: "
                              f"{done.stderr.strip()[:500] or 'pg_restore failed'}")


def _run(command: list[str], url: str) -> None:
    if shutil.which(command[0]) is None:
        raise BackupFailed(f"{command[0]} is not installed (Debian: postgresql-client)")
    done = subprocess.run(command, env=_pg_env(url), capture_output=True, text=True,
                          timeout=3600, check=False)
    if done.returncode != 0:
        raise BackupFailed(f"{command[0]} failed: {done.stderr.strip()[:500]}")


def restore_backup(backup: Path, url: str, force: bool = False) -> None:
    """Restore `backup` into the (new, empty unless `force`) database at `url`."""
    if not backup.is_file():
        raise BackupFailed(f"no backup file {backup}")
    if url.startswith("sqlite"):
        target = _sqlite_path(url)
        if target.exists() and not force:
            raise BackupFailed(f"{target} exists; restore into a new file or pass --force")
        target.parent.mkdir(parents=True, exist_ok=True)
        _sqlite_backup(backup, target)
        return
    verify_backup(backup)  # a damaged archive is refused before the database is touched
    command = ["pg_restore", *_pg_args(url), "--dbname", str(make_url(url).database),
               "--no-owner", "--exit-on-error"]
    if force:
        command += ["--clean", "--if-exists"]
    _run([*command, str(backup)], url)


def list_backups(directory: Path) -> list[Backup]:
    """Every backup in `directory`, newest first."""
    found = []
    for path in directory.glob(f"{PREFIX}*"):
        if path.suffix not in (".sqlite", ".pgdump"):
            continue
        try:
            taken = datetime.strptime(path.stem.removeprefix(PREFIX), STAMP).replace(tzinfo=UTC)
        except ValueError:
            continue
        found.append(Backup(path, taken, path.stat().st_size))
    return sorted(found, key=lambda b: b.taken_at, reverse=True)


def prune_backups(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups; the deleted paths."""
    doomed = [b.path for b in list_backups(directory)[max(1, keep):]]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


# --- failures, health and metrics ----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class BackupFailure:
    """The last failed attempt: when, why, and how many attempts in a row have failed."""

    at: datetime
    reason: str
    in_a_row: int


def last_failure(directory: Path) -> BackupFailure | None:
    """The failure kept in `directory`, or None when the last attempt succeeded."""
    try:
        raw = json.loads((directory / FAILURE_FILE).read_text())
        return BackupFailure(datetime.fromisoformat(raw["at"]), str(raw["reason"]),
                             int(raw["in_a_row"]))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        return BackupFailure(datetime.fromtimestamp(0, UTC), f"{FAILURE_FILE} is unreadable", 1)


def record_failure(directory: Path, now: datetime, reason: str) -> BackupFailure:
    """Keep this failure (counting the ones before it) until a backup succeeds."""
    before = last_failure(directory)
    failure = BackupFailure(now, reason, (before.in_a_row if before else 0) + 1)
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / (FAILURE_FILE + ".part")
    partial.write_text(json.dumps({"at": now.isoformat(), "reason": reason,
                                   "in_a_row": failure.in_a_row}))
    os.replace(partial, directory / FAILURE_FILE)
    return failure


def backup_now(url: str, directory: Path, now: datetime, keep: int) -> Backup:
    """Take a verified backup and prune old ones; a failure is logged, kept for the admin
    area and `/metrics`, and raised (the job and the CLI fail with it)."""
    try:
        backup = take_backup(url, directory, now)
    except (BackupFailed, OSError, sqlite3.Error, subprocess.TimeoutExpired) as exc:
        reason = exc.detail if isinstance(exc, BackupFailed) else f"{type(exc).__name__}: {exc}"
        failure = record_failure(directory, now, reason)
        log.error("backup failed (%d in a row): %s", failure.in_a_row, reason)
        if isinstance(exc, BackupFailed):
            raise
        raise BackupFailed(reason) from exc
    (directory / FAILURE_FILE).unlink(missing_ok=True)
    prune_backups(directory, keep)
    return backup


@dataclass(frozen=True, slots=True)
class BackupHealth:
    """The newest backup's age against the RPO, and the last failed attempt if any."""

    newest: Backup | None
    age: timedelta | None
    failure: BackupFailure | None
    rpo: timedelta = RPO

    @property
    def on_time(self) -> bool:
        return self.age is not None and self.age <= self.rpo

    @property
    def ok(self) -> bool:
        return self.on_time and self.failure is None


def backup_health(directory: Path, now: datetime) -> BackupHealth:
    newest = next(iter(list_backups(directory)), None)
    return BackupHealth(newest, newest.age(now) if newest else None, last_failure(directory))


class BackupCollector(Collector):
    """`bellwether_backup_newest_age_seconds`, `bellwether_backup_rpo_seconds` and
    `bellwether_backup_failures_in_a_row`, read from the backup directory at each scrape,
    so an alert can fire on a late or failing backup."""

    def __init__(self, directory: Path, clock: Clock) -> None:
        self.directory = directory
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        health = backup_health(self.directory, self.clock.now())
        age = GaugeMetricFamily("bellwether_backup_newest_age_seconds",
                                "Age of the newest verified backup (absent: none yet)")
        if health.age is not None:
            age.add_metric([], health.age.total_seconds())
        yield age
        yield GaugeMetricFamily("bellwether_backup_rpo_seconds",
                                "The recovery point objective the newest backup's age is "
                                "judged on", value=health.rpo.total_seconds())
        yield GaugeMetricFamily("bellwether_backup_failures_in_a_row",
                                "Backup attempts that failed since the last that succeeded "
                                "(integrity check included)",
                                value=health.failure.in_a_row if health.failure else 0)


def watch_backups(registry: CollectorRegistry, directory: Path, clock: Clock) -> None:
    """Export the backup gauges from `registry`."""
    registry.register(BackupCollector(directory, clock))
