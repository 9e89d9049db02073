"""The disk filling up under SQLite: a clear error, nothing corrupted, nothing lost once
there is room again (a real full filesystem: a small tmpfs)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import create_app
from core import migrate
from core.config import Settings
from core.db import make_engine, make_session_factory, session_scope
from core.models import Role
from probes.checks import CheckResult
from probes.models import CheckRow
from probes.writer import DatabaseWriter
from tests.conftest import make_token
from tests.support.clock import ManualClock

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        message = f"cannot mount a small tmpfs here: {done.stderr.strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def checks(n: int) -> list[CheckResult]:
    return [CheckResult(probe="orders.eu", component="orders", region="europe-west1.gcp",
                        location="loc-a", intended_at=NOW + timedelta(seconds=i),
                        started_at=NOW + timedelta(seconds=i), ok=True, latency_ms=10.0,
                        error="x" * 400) for i in range(n)]


def fill(path: Path) -> None:
    """Take every byte left, as another program on the machine might."""
    with path.open("wb") as filler:
        try:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        except OSError:
            pass


def test_a_full_disk_is_a_clear_error_and_nothing_is_lost_or_corrupted(small_disk: Path,
                                                                       ) -> None:
    url = f"sqlite:///{small_disk / 'bellwether.sqlite'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    writer = DatabaseWriter(factory, ManualClock(NOW))
    writer.put(checks(100))
    assert writer.flush() == 100
    token = make_token(engine, Role.AGENT, locations=("loc-a",))
    fill(small_disk / "filler")
    writer.put(checks(600)[100:])
    assert writer.flush() == 0
    assert writer.pending == 500  # kept, not dropped
    assert writer.failures == 1

    app = create_app(replace(Settings(), data_dir=small_disk, database_url=url,
                             secret_key="disk"))
    batch = {"checks": [replace(c, id=uuid.uuid4().hex).to_json() for c in checks(300)]}
    answer = app.test_client().post("/api/v1/ingest", json=batch,
                                    headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 507
    assert answer.get_json()["error"] == "storage_full"

    with sqlite3.connect(small_disk / "bellwether.sqlite") as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with session_scope(factory) as session:
        assert session.scalar(select(func.count()).select_from(CheckRow)) == 100

    (small_disk / "filler").unlink()
    assert writer.flush() == 500
    with session_scope(factory) as session:
        assert session.scalar(select(func.count()).select_from(CheckRow)) == 600
    app.extensions["bellwether"].engine.dispose()
    engine.dispose()
