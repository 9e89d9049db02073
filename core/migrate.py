"""`bellwether db …`: thin wrappers around alembic.command with our script location."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

import migrations
from core.db import commerce_database_url


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    return config


def _databases(url: str) -> list[str]:
    """Bellwether's database and, on SQLite, the commerce set's own file beside it
    (core.db.commerce_database_url), which the same migrations build."""
    commerce = commerce_database_url(url)
    return [url] if commerce == url else [url, commerce]


def upgrade(url: str, revision: str = "head") -> None:
    for each in _databases(url):
        command.upgrade(alembic_config(each), revision)


def downgrade(url: str, revision: str = "base") -> None:
    for each in _databases(url):
        command.downgrade(alembic_config(each), revision)


def check(url: str) -> None:
    """Raise when the models and the migrated schema differ."""
    command.check(alembic_config(url))


def current(url: str) -> None:
    command.current(alembic_config(url), verbose=False)
