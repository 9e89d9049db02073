"""Backups and restores of Bellwether's own database.

SQLite is copied with its online backup API (a consistent copy while Bellwether writes);
PostgreSQL with `pg_dump --format=custom`, restored with `pg_restore`. Backups are files
named by their time in one directory, pruned to a retention count; the newest one's age
is what the recovery point objective (2 h by default, the SLA spec's RPO) is judged on.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import make_url

from core.errors import BellwetherError

STAMP = "%Y%m%dT%H%M%SZ"
PREFIX = "bellwether-"
RPO = timedelta(hours=2)


class BackupFailed(BellwetherError):
    status = 500
    code = "backup_failed"


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
        os.replace(str(target) + ".part", target)
    return Backup(target, now, target.stat().st_size)


def _sqlite_backup(source: Path, target: Path) -> None:
    partial = target.with_suffix(".part")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(partial)
    try:
        src.backup(dst)
        dst.execute("PRAGMA integrity_check")
    finally:
        dst.close()
        src.close()
    os.replace(partial, target)


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
