"""The shared declarative base, the engine and sessions.

SQLite is the embedded default, PostgreSQL the production store. On SQLite the driver's own
transaction handling is switched off and every transaction begins IMMEDIATE: pysqlite's
default silently loses read-modify-write updates (measured in dependencies-checked.md §6).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Every package whose models share the one metadata; Alembic and tests import them all.
MODEL_MODULES = ("core.models", "commerce.models", "probes.models", "alerts.models",
                 "status.models", "reports.models")

SessionFactory = sessionmaker[Session]


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both backends (SQLite stores them naive, so we re-attach UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; times are aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime()}  # noqa: RUF012 (SQLAlchemy reads a dict)


def import_models() -> MetaData:
    """Import every package's models so the metadata is complete (Alembic, tests)."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return Base.metadata


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine with the pragmas and pooling each backend needs; connects lazily."""
    if url.startswith("sqlite"):
        engine = create_engine(url, pool_size=pool_size * 2, max_overflow=pool_size * 4,
                               connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size * 2,
                         pool_pre_ping=True, pool_timeout=10)


def make_session_factory(engine: Engine) -> SessionFactory:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: SessionFactory) -> Iterator[Session]:
    """A session that commits when the block succeeds and rolls back when it raises."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def database_kind(url: str) -> str:
    """'sqlite' or 'postgresql', for messages and backend-specific SQL."""
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def try_singleton(session: Session, name: str) -> bool:
    """Whether this transaction may run the one-at-a-time job `name` now.

    On PostgreSQL a transaction-level advisory lock: a second worker skips the pass instead
    of doing the same work twice. SQLite has one writer at a time anyway (BEGIN IMMEDIATE).
    """
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(hashtext(:name))"),
                               {"name": f"singleton:{name}"}))
