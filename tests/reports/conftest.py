"""Fixtures of the report tests: databases of their own (jobs and the API commit), an app on a
moved clock with PagerDuty routing keys set, users with tokens, and web sessions."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from app import create_app
from core import migrate
from core.auth import create_token, create_user
from core.config import Settings
from core.db import make_session_factory, session_scope
from core.models import Role
from tests.support.clock import ManualClock
from tests.support.databases import create_database, drop_database, migrated_engine

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
TIER1_KEY, TIER2_KEY = "tier1-routing-key", "tier2-routing-key"
#: A user with an API token: (id, token).
MadeUser = tuple[int, str]


def report_settings(data_dir: Path, url: str) -> Settings:
    return replace(Settings(), data_dir=data_dir, database_url=url, http_port=0,
                   secret_key="test-secret", confirmations=2,
                   pagerduty_routing_key_tier1=TIER1_KEY,
                   pagerduty_routing_key_tier2=TIER2_KEY)


@pytest.fixture
def fresh_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated database of its own: jobs and the CLI commit and look at every row."""
    with migrated_engine(tmp_path, "reports") as engine:
        yield engine


@pytest.fixture(scope="module")
def module_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database per test module, so the shared one stays free of customers."""
    url = create_database(tmp_path_factory.mktemp("reports-db"), "reportsweb")
    migrate.upgrade(url)
    yield url
    drop_database(url)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def report_app(tmp_path: Path, module_url: str, clock: ManualClock) -> Iterator[Flask]:
    app = create_app(report_settings(tmp_path, module_url), clock=clock)
    yield app
    app.extensions["bellwether"].engine.dispose()


@pytest.fixture
def api(report_app: Flask) -> FlaskClient:
    return report_app.test_client()


@pytest.fixture
def app_engine(report_app: Flask) -> Engine:
    engine: Engine = report_app.extensions["bellwether"].engine
    return engine


@pytest.fixture
def make_user(app_engine: Engine) -> Callable[[Role], MadeUser]:
    """A committed user with `role` and an API token for them."""

    def make(role: Role) -> MadeUser:
        with session_scope(make_session_factory(app_engine)) as session:
            user = create_user(session, email=f"{role.value}-{uuid.uuid4().hex[:8]}@x.test",
                               role=role, now=NOW)
            return user.id, create_token(session, user, name="test", now=NOW)

    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def log_in(client: FlaskClient, user_id: int, at: datetime = NOW) -> None:
    """Give the client a logged-in web session, as /login would."""
    with client.session_transaction() as session:
        session["user_id"] = user_id
        session["login_at"] = at.isoformat()
        session["csrf"] = uuid.uuid4().hex
