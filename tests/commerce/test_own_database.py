"""On SQLite the commerce set's tables live in their own file, so its writes (carts, orders,
messages, faults) never wait for Bellwether's write lock; on PostgreSQL one database."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select

from commerce import store
from commerce.fleet import Fleet
from commerce.models import Project
from core.db import (
    _locked_error,
    commerce_database_url,
    commerce_engine,
    make_session_factory,
    read_scope,
)
from core.models import User
from tests.support.waiting import wait_until

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_the_commerce_url_is_a_file_beside_bellwethers_only_on_sqlite() -> None:
    assert commerce_database_url("sqlite:////data/bellwether.sqlite") == \
        "sqlite:////data/bellwether-commerce.sqlite"
    assert commerce_database_url("sqlite:///rel/db") == "sqlite:///rel/db-commerce"
    assert commerce_database_url("sqlite://") == "sqlite://"
    pg = "postgresql+psycopg://postgres@127.0.0.1:5432/bw"
    assert commerce_database_url(pg) == pg


def test_commerce_writes_while_bellwethers_write_lock_is_held(engine: Engine) -> None:
    factory = make_session_factory(engine)
    own = commerce_engine(engine)
    key = f"own-file-{id(factory)}"
    if engine.dialect.name != "sqlite":
        assert own is engine
        return
    assert own.url != engine.url
    path = engine.url.database
    assert path is not None
    holder = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer holds Bellwether's lock
        with factory() as session:
            store.create_project(session, "europe-west1.gcp", key, NOW)
            session.commit()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with read_scope(factory) as session:  # read back through the same binds, read-only
        assert session.scalar(select(Project.key).where(Project.key == key)) == key
        session.scalar(select(User.id).limit(1))  # Bellwether's tables still answer
    main = sqlite3.connect(path)
    try:
        assert main.execute("SELECT count(*) FROM commerce_projects WHERE key = ?",
                            (key,)).fetchone() == (0,)
    finally:
        main.close()


def test_a_busy_commerce_lock_is_a_warning_in_the_log_not_a_locked_traceback(
        fleet: Fleet, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The commerce worker logged SQLite's "database is locked" with a traceback when its
    10 s wait for the commerce file's lock ran out (the 1-hour soak on a loaded machine);
    it is busy, not broken: a warning, and the next pass retries."""
    passes: list[int] = []

    def busy() -> int:
        passes.append(1)
        raise _locked_error()

    caplog.set_level(logging.WARNING, logger="commerce.fleet")
    monkeypatch.setattr(fleet, "_work", busy)
    store.WORK_ARRIVED.fire()
    wait_until(lambda: any("skipped a pass" in r.getMessage() for r in caplog.records),
               message="the worker's warning")
    assert passes
    assert not any("database is locked" in r.getMessage() or r.exc_info
                   for r in caplog.records if r.name == "commerce.fleet")
