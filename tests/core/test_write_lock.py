"""SQLite's one write lock: read scopes never take it, jobs hold it in short transactions,
and a request that cannot get it answers 503 with Retry-After, never "database is locked".

Statement and transaction counts, never timings: the soak in bench/soak_up.py measures time.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from core import db
from core.config import Settings
from core.db import make_session_factory, read_scope, session_scope
from core.scheduler import Job, JobContext, build_scheduler
from probes import jobs, store
from probes.checks import CheckResult
from probes.models import CheckRow, ComponentMinute
from probes.rollup import roll_up
from probes.specs import default_catalogue
from status import maintenance_notices, site_jobs
from tests.support.clock import ManualClock
from tests.support.databases import migrated_engine
from tests.support.waiting import wait_until

START = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
COMPONENTS = ("auth", "orders", "carts", "search", "products")


@pytest.fixture
def fresh_engine(tmp_path: Path) -> Iterator[Engine]:
    """A database of its own: the jobs look at every row."""
    with migrated_engine(tmp_path, "lock") as engine:
        yield engine


def sqlite_only(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's whole-file write lock; PostgreSQL locks rows")


class Transactions:
    """The statements of every transaction on an engine, in order; which ones wrote."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.all: list[list[str]] = []
        self._open: dict[int, list[str]] = {}

    def _statement(self, conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        upper = statement.lstrip().upper()
        if upper.startswith("BEGIN"):
            self._open[id(conn.connection.dbapi_connection)] = []
        key = id(conn.connection.dbapi_connection)
        if key in self._open:
            self._open[key].append(upper)

    def _begin(self, conn: Any) -> None:  # PostgreSQL sends no BEGIN statement of its own
        self._open.setdefault(id(conn.connection.dbapi_connection), [])

    def _end(self, conn: Any) -> None:
        done = self._open.pop(id(conn.connection.dbapi_connection), None)
        if done is not None:
            self.all.append(done)

    @property
    def writing(self) -> list[list[str]]:
        """Transactions that took SQLite's write lock (BEGIN IMMEDIATE)."""
        return [t for t in self.all if t and t[0].startswith("BEGIN IMMEDIATE")]

    @contextmanager
    def watch(self) -> Iterator[Transactions]:
        event.listen(self.engine, "before_cursor_execute", self._statement)
        event.listen(self.engine, "begin", self._begin)
        event.listen(self.engine, "commit", self._end)
        event.listen(self.engine, "rollback", self._end)
        try:
            yield self
        finally:
            event.remove(self.engine, "before_cursor_execute", self._statement)
            event.remove(self.engine, "begin", self._begin)
            event.remove(self.engine, "commit", self._end)
            event.remove(self.engine, "rollback", self._end)


def other_writer(engine: Engine) -> sqlite3.Connection:
    """A plain sqlite3 connection to the same file that does not wait for the lock."""
    conn = sqlite3.connect(str(make_url(str(engine.url)).database), timeout=0,
                           isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=0")
    return conn


def checks_of(components: tuple[str, ...], seconds: int) -> list[CheckResult]:
    return [CheckResult(probe=f"{component}.eu", component=component,
                        region="europe-west1.gcp", location=location,
                        intended_at=START + timedelta(seconds=s),
                        started_at=START + timedelta(seconds=s), ok=s % 7 != 0,
                        latency_ms=40.0, interval_s=1)
            for component in components for location in ("loc-a", "loc-b", "loc-c")
            for s in range(seconds)]


def job_context(engine: Engine, now: datetime) -> JobContext:
    return JobContext(replace(Settings(), confirmations=2), ManualClock(now),
                      make_session_factory(engine))


# --- read scopes ------------------------------------------------------------------------------

def test_a_read_scope_leaves_the_write_lock_free(fresh_engine: Engine) -> None:
    sqlite_only(fresh_engine)
    factory = make_session_factory(fresh_engine)
    writer = other_writer(fresh_engine)
    try:
        with read_scope(factory) as session:
            assert session.scalar(select(func.count()).select_from(CheckRow)) == 0
            writer.execute("BEGIN IMMEDIATE")  # busy_timeout 0: fails if the lock is taken
            writer.execute("ROLLBACK")
    finally:
        writer.close()


def test_a_read_scope_cannot_write(fresh_engine: Engine) -> None:
    """A deferred transaction that writes would fail at once under contention; a read
    scope refuses every write instead, so the mistake shows in any test."""
    sqlite_only(fresh_engine)
    with pytest.raises(OperationalError, match="readonly"), \
            read_scope(make_session_factory(fresh_engine)) as session:
        session.execute(text("DELETE FROM probe_checks"))
    with session_scope(make_session_factory(fresh_engine)) as session:  # writes again
        session.execute(text("DELETE FROM probe_checks"))


def test_a_read_scope_works_on_either_backend(fresh_engine: Engine) -> None:
    with session_scope(make_session_factory(fresh_engine)) as session:
        store.save_checks(session, checks_of(("orders",), 2), START)
    with read_scope(make_session_factory(fresh_engine)) as session:
        assert session.scalar(select(func.count()).select_from(CheckRow)) == 6


# --- jobs -------------------------------------------------------------------------------------

def test_rollup_writes_one_series_per_transaction_and_reads_outside(
        fresh_engine: Engine) -> None:
    """Five series used to be one write transaction with every read inside it."""
    sqlite_only(fresh_engine)
    with session_scope(make_session_factory(fresh_engine)) as session:
        store.save_checks(session, checks_of(COMPONENTS, 120), START)
    ctx = job_context(fresh_engine, START + timedelta(minutes=10))
    with Transactions(fresh_engine).watch() as seen:
        assert jobs.roll_up_minutes(ctx) == len(COMPONENTS) * 3 * 120
    assert len(seen.writing) == len(COMPONENTS)
    for statements in seen.writing:
        assert not any(s.startswith("SELECT") and "FROM PROBE_CHECKS" in s
                       and "COMPONENT_MINUTES" not in s for s in statements)
        # one series' delete + inserts, its day recount, and marking its 360 checks
        assert len(statements) <= 12


def test_evaluation_reads_the_checks_before_it_takes_the_write_lock(
        fresh_engine: Engine) -> None:
    """Every pass read up to half a minute of checks again inside BEGIN IMMEDIATE: the
    longest write-lock holder of the 1 s soak (docs/benchmarks.md)."""
    sqlite_only(fresh_engine)
    factory = make_session_factory(fresh_engine)
    with session_scope(factory) as session:
        store.sync_probes(session, [p for p in default_catalogue(["europe-west1.gcp"])
                                    if p.component in COMPONENTS], START)
        store.save_checks(session, checks_of(COMPONENTS, 20), START + timedelta(seconds=20))
    ctx = job_context(fresh_engine, START + timedelta(seconds=21))
    with Transactions(fresh_engine).watch() as seen:
        jobs.evaluate_states(ctx)
    assert seen.writing, "the states and the pass's run are written"
    for statements in seen.writing:
        assert not any("FROM PROBE_CHECKS" in s for s in statements), statements
    assert any("FROM PROBE_CHECKS" in s for t in seen.all for s in t), "read before, then"


def test_an_evaluation_pass_that_changes_nothing_takes_the_write_lock_only_for_its_run(
        fresh_engine: Engine) -> None:
    """A pass is worked out in a read scope first; one that changes no state and pages
    nobody writes only its job run (the whole pass sat inside BEGIN IMMEDIATE: 55 ms on
    average in the 1 s soak). A pass that changes a state still writes it."""
    sqlite_only(fresh_engine)
    factory = make_session_factory(fresh_engine)
    with session_scope(factory) as session:
        store.sync_probes(session, [p for p in default_catalogue(["europe-west1.gcp"])
                                    if p.component in COMPONENTS], START)
        store.save_checks(session, checks_of(COMPONENTS, 20), START + timedelta(seconds=20))
    ctx = job_context(fresh_engine, START + timedelta(seconds=21))
    with Transactions(fresh_engine).watch() as first:
        jobs.evaluate_states(ctx)
    assert any("component_states" in s.lower() for t in first.writing for s in t)
    ctx.clock.advance(timedelta(milliseconds=500))  # type: ignore[attr-defined]
    with Transactions(fresh_engine).watch() as second:
        jobs.evaluate_states(ctx)
    assert len(second.writing) == 1
    assert all("job_runs" in s.lower() for s in second.writing[0]
               if s.split(" ", 1)[0] in ("INSERT", "UPDATE", "DELETE")), second.writing


def test_rollup_in_batches_gives_the_same_rollups(fresh_engine: Engine,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Claims smaller than the backlog roll everything up, as one big claim did."""
    monkeypatch.setattr(jobs, "SQLITE_ROLLUP_BATCH", 100)
    with session_scope(make_session_factory(fresh_engine)) as session:
        store.save_checks(session, checks_of(("orders", "auth"), 150), START)
    ctx = job_context(fresh_engine, START + timedelta(minutes=10))
    rolled = 0
    while done := jobs.roll_up_minutes(ctx):
        rolled += done
    assert rolled == 2 * 3 * 150
    with read_scope(make_session_factory(fresh_engine)) as session:
        minutes = session.execute(select(ComponentMinute.component, func.sum(
            ComponentMinute.checks)).group_by(ComponentMinute.component)).all()
    assert dict(minutes) == {"orders": 450, "auth": 450}


def test_prune_commits_in_batches(fresh_engine: Engine,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "PRUNE_BATCH", 2)
    factory = make_session_factory(fresh_engine)
    with session_scope(factory) as session:
        store.save_checks(session, checks_of(("orders",), 2)[:5], START)
        session.execute(update(CheckRow).values(rolled_up=True))
    ctx = job_context(fresh_engine, START + timedelta(days=40))
    with Transactions(fresh_engine).watch() as seen:
        assert jobs.prune_checks(ctx) == 5
    deletes = [t for t in seen.all if any(s.startswith("DELETE") for s in t)]
    assert len(deletes) == 3  # 2 + 2 + 1


def test_publishing_and_quiet_maintenance_passes_take_no_write_lock(
        fresh_engine: Engine, tmp_path: Path) -> None:
    sqlite_only(fresh_engine)
    settings = replace(Settings(), data_dir=tmp_path, secret_key="test-secret")
    ctx = JobContext(settings, ManualClock(START), make_session_factory(fresh_engine))
    with Transactions(fresh_engine).watch() as seen:
        assert site_jobs.publish_site(ctx) > 0
        assert maintenance_notices.maintenance_notices(ctx) == 0
    assert seen.all
    assert seen.writing == []


def test_an_api_write_succeeds_while_the_rollup_is_mid_pass(
        client: FlaskClient, admin_token: str, settings: Settings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The rollup computing (in the old code: inside its write transaction) must not keep
    an API write waiting; on SQLite the request would have waited 10 s, then 503."""
    runtime = client.application.extensions["bellwether"]
    with session_scope(runtime.session_factory) as session:
        store.save_checks(session, checks_of(("orders",), 3), START)
    entered, release = threading.Event(), threading.Event()
    real = roll_up

    def paused(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(jobs, "roll_up", paused)
    monkeypatch.setattr(db, "WEB_BUSY_TIMEOUT_MS", 200)
    ctx = JobContext(replace(settings, confirmations=2), ManualClock(START + timedelta(hours=1)),
                     runtime.session_factory)
    worker = threading.Thread(target=jobs.roll_up_minutes, args=(ctx,))
    worker.start()
    try:
        assert entered.wait(30)
        answer = client.post("/api/v1/faults", json={"kind": "latency", "value": 1},
                             headers={"Authorization": f"Bearer {admin_token}"})
        assert answer.status_code == 201, answer.get_json()
        client.delete(f"/api/v1/faults/{answer.get_json()['id']}",
                      headers={"Authorization": f"Bearer {admin_token}"})
    finally:
        release.set()
        worker.join(30)


# --- when the lock stays taken --------------------------------------------------------------

def test_a_request_that_cannot_get_the_lock_answers_503_with_retry_after(
        client: FlaskClient, admin_token: str, engine: Engine,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    sqlite_only(engine)
    monkeypatch.setattr(db, "WEB_BUSY_TIMEOUT_MS", 50)
    writer = other_writer(engine)
    writer.execute("BEGIN IMMEDIATE")
    try:
        answer = client.post("/api/v1/faults", json={"kind": "latency", "value": 1},
                             headers={"Authorization": f"Bearer {admin_token}"})
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    assert answer.get_json()["error"] == "database_busy"
    assert "database is locked" not in answer.get_data(as_text=True)
    assert "database is locked" not in caplog.text


def test_a_job_that_cannot_get_the_lock_skips_its_pass_quietly(
        caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    def locked(_ctx: JobContext) -> int:
        raise OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError(
            "database is locked"))

    job = Job("tests.locked", timedelta(seconds=1), locked)
    ctx = JobContext(Settings(), ManualClock(START), make_session_factory(
        db.make_engine(f"sqlite:///{tmp_path / 'unused.sqlite'}")))
    run = build_scheduler([job], ctx).get_job("tests.locked").func
    with caplog.at_level(logging.INFO):
        run()
    assert "skipped a pass" in caplog.text
    assert "database is locked" not in caplog.text
    assert "Traceback" not in caplog.text


def test_write_transactions_are_counted_per_holder(fresh_engine: Engine) -> None:
    sqlite_only(fresh_engine)
    db.reset_lock_holds()
    factory = make_session_factory(fresh_engine)
    with db.holding_as("tests.holder"):
        for _ in range(3):
            with session_scope(factory) as session:
                session.execute(text("SELECT 1"))
        with read_scope(factory) as session:
            session.execute(text("SELECT 1"))
    assert db.lock_holds()["tests.holder"].count == 3


def test_the_gate_lets_a_waiting_web_request_go_before_waiting_jobs() -> None:
    gate = db.WriteGate()
    assert gate.acquire(1, web=False, timeout_s=1)
    order: list[str] = []

    def wait(owner: int, web: bool) -> None:
        assert gate.acquire(owner, web=web, timeout_s=30)
        order.append("web" if web else "job")
        gate.release(owner)

    job = threading.Thread(target=wait, args=(2, False))
    job.start()
    wait_until(lambda: gate._jobs._waiters, message="the job waiting")  # type: ignore[attr-defined]
    web = threading.Thread(target=wait, args=(3, True))
    web.start()
    wait_until(lambda: gate._web_waiting, message="the request waiting")
    gate.release(1)
    job.join(30)
    web.join(30)
    assert order == ["web", "job"]


def test_a_web_wait_for_the_gate_ends_like_sqlites_busy_timeout(
        fresh_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A request that cannot get the gate in time fails as SQLite's own busy timeout
    does (so it answers 503 database_busy); the gate is free again after the holder."""
    sqlite_only(fresh_engine)
    monkeypatch.setattr(db, "WEB_BUSY_TIMEOUT_MS", 20)
    factory = make_session_factory(fresh_engine)
    holding = factory()
    holding.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: holds the gate
    with db.holding_as("tests.web", web=True), session_scope(factory) as session, \
            pytest.raises(OperationalError) as caught:
        session.execute(text("SELECT 1"))
    assert db.is_lock_timeout(caught.value)
    holding.close()
    with db.holding_as("tests.web", web=True), session_scope(factory) as session:
        session.execute(text("SELECT 1"))
