"""Backups of the database and restoring them, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core import migrate
from core.auth import create_user
from core.backup import list_backups, prune_backups, restore_backup, take_backup
from core.config import Settings
from core.db import make_engine, make_session_factory, session_scope
from core.jobs import scheduled_backup
from core.models import Role, User
from core.scheduler import JobContext
from tests.support.clock import ManualClock
from tests.support.databases import create_database, drop_database

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


def users_in(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            return sorted(session.scalars(select(User.email)))
    finally:
        engine.dispose()


def test_a_backup_restores_into_a_fresh_database_with_the_same_rows(tmp_path: Path) -> None:
    source = create_database(tmp_path, "source")
    target = create_database(tmp_path, "target")
    try:
        migrate.upgrade(source)
        engine = make_engine(source)
        with session_scope(make_session_factory(engine)) as session:
            for i in range(3):
                create_user(session, email=f"u{i}@x.test", role=Role.SUPPORT, now=NOW)
        engine.dispose()
        if target.startswith("sqlite"):
            Path(target.removeprefix("sqlite:///")).unlink(missing_ok=True)
        backup = take_backup(source, tmp_path / "backups", NOW)
        assert backup.size > 0
        restore_backup(backup.path, target)
        assert users_in(target) == ["u0@x.test", "u1@x.test", "u2@x.test"]
    finally:
        drop_database(source)
        drop_database(target)


def test_backups_are_kept_to_the_retention_count_and_taken_when_due(tmp_path: Path) -> None:
    url = create_database(tmp_path, "jobs")
    try:
        migrate.upgrade(url)
        engine = make_engine(url)
        clock = ManualClock(NOW)
        settings = replace(Settings(), data_dir=tmp_path, database_url=url,
                           extra={"backup_keep": 2, "backup_interval_minutes": 60})
        ctx = JobContext(settings, clock, make_session_factory(engine))
        taken = []
        for _ in range(4):
            taken.append(scheduled_backup(ctx))
            clock.advance(timedelta(minutes=30))
        engine.dispose()
        assert taken == [1, 0, 1, 0]
        backups = list_backups(tmp_path / "backups")
        assert [b.taken_at for b in backups] == [NOW + timedelta(hours=1), NOW]
        assert prune_backups(tmp_path / "backups", keep=1) == [backups[1].path]
    finally:
        drop_database(url)


def test_the_cli_refuses_to_restore_over_a_database_and_says_so(tmp_path: Path) -> None:
    url = create_database(tmp_path, "cli")
    try:
        migrate.upgrade(url)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "BELLWETHER_DATABASE_URL": url,
               "BELLWETHER_DATA_DIR": str(tmp_path)}
        made = subprocess.run([sys.executable, str(ROOT / "app.py"), "backup"], env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert made.returncode == 0, made.stderr
        backup = list_backups(tmp_path / "backups")[0].path
        missing = subprocess.run([sys.executable, str(ROOT / "app.py"), "restore",
                                  str(tmp_path / "nope.sqlite")], env=env, capture_output=True,
                                 text=True, timeout=60, check=False)
        assert missing.returncode == 2
        assert "no backup file" in missing.stderr
        if url.startswith("sqlite"):
            over = subprocess.run([sys.executable, str(ROOT / "app.py"), "restore",
                                   str(backup)], env=env, capture_output=True, text=True,
                                  timeout=60, check=False)
            assert over.returncode == 2
            assert "exists" in over.stderr
        engine = make_engine(url)
        with session_scope(make_session_factory(engine)) as session:
            assert session.scalar(select(func.count()).select_from(User)) == 0
        engine.dispose()
    finally:
        drop_database(url)


def test_admins_see_the_age_of_the_newest_backup_against_the_rpo(app: object,
                                                                 admin_token: str) -> None:
    from flask import Flask

    assert isinstance(app, Flask)
    runtime = app.extensions["bellwether"]
    runtime.clock = ManualClock(NOW)
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {admin_token}"}
    empty = client.get("/api/v1/backups", headers=bearer).get_json()
    assert empty["rpo_met"] is False
    assert empty["newest_age_s"] is None
    take_backup(runtime.settings.effective_database_url,
                runtime.settings.data_dir / "backups", NOW - timedelta(minutes=30))
    body = client.get("/api/v1/backups", headers=bearer).get_json()
    assert body["newest_age_s"] == 1800
    assert body["rpo_met"] is True
    assert client.get("/api/v1/backups").status_code == 401


def test_a_restored_database_gives_the_identical_sla_report(tmp_path: Path) -> None:
    import random

    from probes import jobs, store
    from probes.checks import CheckResult
    from reports.monthly import month_lines
    from sla.catalog import STANDARD
    from sla.period import month_period

    source = create_database(tmp_path, "report-source")
    target = create_database(tmp_path, "report-target")
    try:
        migrate.upgrade(source)
        engine = make_engine(source)
        factory = make_session_factory(engine)
        rng = random.Random(11)
        checks = [CheckResult(probe="orders.eu", component="orders", region="europe-west1.gcp",
                              location=loc, intended_at=NOW + timedelta(seconds=30 * i),
                              started_at=NOW + timedelta(seconds=30 * i),
                              ok=not (200 <= i < 220) and rng.random() > 0.02,
                              latency_ms=20.0)
                  for loc in ("loc-a", "loc-b", "loc-c") for i in range(2 * 60 * 6)]
        with session_scope(factory) as session:
            store.save_checks(session, checks, NOW)
        ctx = JobContext(replace(Settings(), confirmations=2), ManualClock(NOW + timedelta(
            days=1)), factory)
        while jobs.roll_up_minutes(ctx):
            pass
        period, pairs = month_period("2026-10"), [("orders", "europe-west1.gcp")]

        def report(url: str) -> list[object]:
            report_engine = make_engine(url)
            try:
                with session_scope(make_session_factory(report_engine)) as session:
                    return list(month_lines(session, pairs, period, STANDARD))
            finally:
                report_engine.dispose()

        before = report(source)
        engine.dispose()
        if target.startswith("sqlite"):
            Path(target.removeprefix("sqlite:///")).unlink(missing_ok=True)
        restore_backup(take_backup(source, tmp_path / "backups", NOW).path, target)
        after = report(target)
        assert after == before
        assert before[0].downtime_minutes > 0  # type: ignore[attr-defined]
    finally:
        drop_database(source)
        drop_database(target)


def corrupted_sqlite(path: Path) -> str:
    """A SQLite database that reads fine but fails `PRAGMA integrity_check`: one row's text
    is changed in place, so the index no longer matches the table."""
    import sqlite3

    connection = sqlite3.connect(path)
    connection.execute("create table t (id integer primary key, name text)")
    connection.execute("create index ix_t_name on t(name)")
    connection.executemany("insert into t(name) values (?)",
                           [(f"name-{i:06d}",) for i in range(5000)])
    connection.commit()
    connection.close()
    data = bytearray(path.read_bytes())
    at = data.index(b"name-002000", 4096 * 2)
    data[at:at + 11] = b"name-999999"
    path.write_bytes(bytes(data))
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() != [("ok",)]
        assert connection.execute("select count(*) from t").fetchone() == (5000,)
    finally:
        connection.close()
    return f"sqlite:///{path}"


def test_a_copy_that_fails_its_integrity_check_is_not_kept(tmp_path: Path) -> None:
    from core.backup import IntegrityFailed

    url = corrupted_sqlite(tmp_path / "damaged.sqlite")
    with pytest.raises(IntegrityFailed, match=r"failed its integrity check: row .* missing "
                                              r"from index ix_t_name"):
        take_backup(url, tmp_path / "backups", NOW)
    assert list((tmp_path / "backups").iterdir()) == []  # neither the copy nor a .part


def test_a_damaged_backup_file_fails_verification_and_restore(tmp_path: Path) -> None:
    """On both backends: the backup's own file is damaged after it was written."""
    import sqlalchemy

    from core.backup import IntegrityFailed, verify_backup

    source = create_database(tmp_path, "verified")
    target = create_database(tmp_path, "verified-target")
    try:
        migrate.upgrade(source)
        engine = make_engine(source)
        with session_scope(make_session_factory(engine)) as session:
            for i in range(200):
                create_user(session, email=f"user{i:04d}@x.test", role=Role.SUPPORT, now=NOW)
        engine.dispose()
        backup = take_backup(source, tmp_path / "backups", NOW)
        verify_backup(backup.path)  # whole: passes
        data = bytearray(backup.path.read_bytes())
        if backup.path.suffix == ".sqlite":
            at = data.index(b"user0100@x.test")
            data[at:at + 15] = b"user9999@x.test"  # the users' e-mail index no longer agrees
        else:
            del data[len(data) // 2:]  # a truncated archive: the copy stopped half-way
        backup.path.write_bytes(bytes(data))
        with pytest.raises(IntegrityFailed):
            verify_backup(backup.path)
        if target.startswith("sqlite"):
            Path(target.removeprefix("sqlite:///")).unlink(missing_ok=True)
        with pytest.raises(IntegrityFailed):
            restore_backup(backup.path, target)
        untouched = make_engine(target)  # refused before anything was written
        try:
            assert sqlalchemy.inspect(untouched).get_table_names() == []
        finally:
            untouched.dispose()
    finally:
        drop_database(source)
        drop_database(target)


def test_a_failed_backup_is_logged_kept_shown_and_counted_until_one_succeeds(
        tmp_path: Path, settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from app import create_app
    from core.backup import FAILURE_FILE, BackupFailed, last_failure

    damaged = corrupted_sqlite(tmp_path / "damaged.sqlite")
    clock = ManualClock(NOW)
    job_settings = replace(settings, database_url=damaged)
    damaged_engine = make_engine(damaged)
    ctx = JobContext(job_settings, clock, make_session_factory(damaged_engine))
    backups = settings.data_dir / "backups"
    with caplog.at_level(logging.ERROR, logger="bellwether.backup"):
        for _ in range(2):
            with pytest.raises(BackupFailed, match="integrity check"):
                scheduled_backup(ctx)
            clock.advance(timedelta(minutes=5))
    damaged_engine.dispose()
    assert [r.getMessage()[:27] for r in caplog.records] == ["backup failed (1 in a row):",
                                                             "backup failed (2 in a row):"]
    failure = last_failure(backups)
    assert failure is not None
    assert failure.in_a_row == 2
    assert "missing from index ix_t_name" in failure.reason
    assert list_backups(backups) == []

    app = create_app(settings, clock=clock)
    try:
        metrics = app.test_client().get("/metrics").get_data(as_text=True)
        assert "bellwether_backup_failures_in_a_row 2.0" in metrics
        assert "bellwether_backup_rpo_seconds 7200.0" in metrics
        assert "\nbellwether_backup_newest_age_seconds " not in metrics  # none yet

        healthy = create_database(tmp_path, "healthy")
        try:
            migrate.upgrade(healthy)
            healthy_engine = make_engine(healthy)
            fixed = JobContext(replace(settings, database_url=healthy), clock,
                               make_session_factory(healthy_engine))
            assert scheduled_backup(fixed) == 1
            healthy_engine.dispose()
        finally:
            drop_database(healthy)
        assert not (backups / FAILURE_FILE).exists()
        clock.advance(timedelta(minutes=10))
        metrics = app.test_client().get("/metrics").get_data(as_text=True)
        assert "bellwether_backup_failures_in_a_row 0.0" in metrics
        assert "bellwether_backup_newest_age_seconds 600.0" in metrics
    finally:
        app.extensions["bellwether"].engine.dispose()
