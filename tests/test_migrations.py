"""The schema has one path: migrations upgrade from empty, match the models, and go back."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

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


def test_the_day_summaries_are_backfilled_from_existing_rollups(tmp_path: Path) -> None:
    url = create_database(tmp_path, "backfill")
    engine = create_engine(url)
    try:
        migrate.upgrade(url, "0005")
        day = 20_000  # 2024-10-04
        rollups = [("orders", "eu", day * 1440 + 1439, "down", 3),
                   ("orders", "eu", (day + 1) * 1440, "up", 1),
                   ("orders", "eu", (day + 1) * 1440 + 1, "maintenance", 1),
                   ("orders", "eu", (day + 1) * 1440 + 2, "no_data", 2),
                   ("orders", "us", day * 1440, "up", 3)]
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO rollup_minutes (component, region, minute, checks, failures,"
                " degraded, locations, locations_down, latency_p50_ms, latency_p95_ms,"
                " latency_max_ms, verdict) VALUES (:c, :r, :m, 2, 0, 0, :n, 0, 1, 2, 3, :v)"),
                [{"c": c, "r": r, "m": m, "v": v, "n": n} for c, r, m, v, n in rollups])
        migrate.upgrade(url)
        with engine.connect() as conn:
            summaries = conn.execute(text(
                "SELECT region, day, minutes, down_minutes, single_location_minutes,"
                " maintenance_minutes, no_data_minutes FROM rollup_days"
                " ORDER BY region, day")).all()
        assert [tuple(row) for row in summaries] == [
            ("eu", day, 1, 1, 0, 0, 0), ("eu", day + 1, 3, 0, 1, 1, 1), ("us", day, 1, 0, 0, 0, 0)]
    finally:
        engine.dispose()
        drop_database(url)
