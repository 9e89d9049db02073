"""Fixtures shared by every test: settings, a migrated database, sessions, app and client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app import create_app
from commerce.fleet import Fleet
from core import migrate
from core.auth import create_token, create_user
from core.clock import SystemClock
from core.config import Settings
from core.db import make_engine, make_session_factory
from core.models import Role
from tests.support.clock import ManualClock
from tests.support.databases import create_database, drop_database


@pytest.fixture(scope="session")
def migrated_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database per test session, built by the migrations (never create_all)."""
    url = create_database(tmp_path_factory.mktemp("db"), "session")
    migrate.upgrade(url)
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def engine(migrated_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db_session(engine: Engine) -> Iterator[Session]:
    """A session whose work is rolled back at the end, commits included (savepoints)."""
    with engine.connect() as conn:
        outer = conn.begin()
        session = Session(bind=conn, join_transaction_mode="create_savepoint",
                          expire_on_commit=False)
        try:
            yield session
        finally:
            session.close()
            outer.rollback()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 10, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def settings(tmp_path: Path, migrated_url: str) -> Settings:
    return replace(Settings(), data_dir=tmp_path, database_url=migrated_url, http_port=0,
                   secret_key="test-secret")


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings)
    yield app
    app.extensions["bellwether"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def make_token(engine: Engine, role: Role, locations: tuple[str, ...] = ()) -> str:
    """A committed user with `role` and an API token for them (an agent's bound to
    `locations`)."""
    import uuid

    factory = make_session_factory(engine)
    with factory() as session:
        user = create_user(session, email=f"{role.value}-{uuid.uuid4().hex[:8]}@example.test",
                           role=role, now=datetime.now(UTC))
        secret = create_token(session, user, name="test", now=datetime.now(UTC),
                              locations=locations)
        session.commit()
    return secret


@pytest.fixture(scope="session")
def admin_token(engine: Engine) -> str:
    return make_token(engine, Role.ADMIN)


@pytest.fixture(scope="session")
def support_token(engine: Engine) -> str:
    return make_token(engine, Role.SUPPORT)


@pytest.fixture(scope="session")
def fleet(engine: Engine, migrated_url: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """One running commerce set (real listeners on loopback) for the whole session: a second
    one on the same database would rotate the region secrets under the first."""
    settings = replace(Settings(), data_dir=Path(tmp_path_factory.mktemp("fleet")),
                       database_url=migrated_url, max_body_bytes=64 * 1024)
    fleet = Fleet(settings, make_session_factory(engine), SystemClock(), instance="tests")
    fleet.start()
    yield fleet
    fleet.stop()
