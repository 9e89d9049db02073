"""Test databases: a fresh SQLite file, or a fresh database on the test PostgreSQL server.

`BELLWETHER_TEST_DATABASE_URL` names a PostgreSQL server to use (its database is only the
place we connect to create ours). Under CI=true an unreachable server fails the run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url


def postgres_server_url() -> str | None:
    return os.environ.get("BELLWETHER_TEST_DATABASE_URL") or None


def _admin_engine(server_url: str):  # type: ignore[no-untyped-def]
    return create_engine(server_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


def create_database(tmp_dir: Path, label: str) -> str:
    """A new empty database; its URL."""
    server_url = postgres_server_url()
    if server_url is None:
        return f"sqlite:///{tmp_dir / f'{label}.sqlite'}"
    name = f"bw_{label}_{uuid.uuid4().hex[:10]}"
    engine = _admin_engine(server_url)
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        pytest.fail(f"PostgreSQL at {server_url} is unreachable: {exc}", pytrace=False)
    finally:
        engine.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    server_url = postgres_server_url()
    if server_url is None or url.startswith("sqlite"):
        return
    name = make_url(url).database
    engine = _admin_engine(server_url)
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


@contextmanager
def migrated_engine(tmp_dir: Path, label: str) -> Iterator[Engine]:
    """An engine on a new database built by the migrations, dropped afterwards: for tests
    whose jobs look at every row and so must not share the session's database."""
    from core import migrate
    from core.db import make_engine

    url = create_database(tmp_dir, label)
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        drop_database(url)
