"""Alembic migrations: the only way Bellwether's schema changes."""
