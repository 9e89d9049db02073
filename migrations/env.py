"""Alembic environment: one schema path for SQLite, PostgreSQL and the tests."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from core.config import load_settings
from core.db import import_models, make_engine

config = context.config
target_metadata = import_models()


def _configure_and_run(connection: Connection) -> None:
    is_sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=is_sqlite,
        compare_server_default=True,
        transaction_per_migration=True,
    )
    if not is_sqlite:
        connection.execute(text("SET lock_timeout = '10s'"))
        connection.execute(text("SELECT pg_advisory_lock(hashtext('alembic'))"))
    try:
        context.run_migrations()
    finally:
        if not is_sqlite:
            connection.execute(text("SELECT pg_advisory_unlock(hashtext('alembic'))"))


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or load_settings().effective_database_url
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _configure_and_run(conn)
            conn.commit()
    finally:
        engine.dispose()


run_migrations_online()
