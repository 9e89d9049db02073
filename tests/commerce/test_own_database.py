"""On SQLite the commerce set's tables live in their own file, so its writes (carts, orders,
messages, faults) never wait for Bellwether's write lock; on PostgreSQL one database."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from commerce import store
from commerce.models import Project
from core.db import commerce_database_url, commerce_engine, make_session_factory, read_scope
from core.models import User

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
