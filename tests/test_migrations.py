"""The schema has one path: migrations upgrade from empty, match the models, and go back."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from core import migrate
from tests.support.databases import create_database, drop_database


def test_there_is_exactly_one_head() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


def test_it_upgrades_from_empty_matches_the_models_and_downgrades(tmp_path: Path) -> None:
    url = create_database(tmp_path, "migrations")
    try:
        migrate.upgrade(url)
        migrate.check(url)  # raises when autogenerate would find a difference
        engine = create_engine(url)
        tables = set(inspect(engine).get_table_names())
        assert {"users", "api_tokens", "commerce_products", "commerce_faults"} <= tables
        migrate.downgrade(url, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(url)
        assert "commerce_orders" in inspect(engine).get_table_names()
        engine.dispose()
    finally:
        drop_database(url)
