"""Fixtures of the status tests: databases of their own, an app on a moved clock with
PagerDuty routing keys set (so pages reach the outbox), users and their sessions."""

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
from sqlalchemy.orm import Session

from app import create_app
from core import migrate
from core.auth import create_token, create_user
from core.config import Settings
from core.db import make_session_factory, session_scope
from core.models import Role
from tests.support.clock import ManualClock
from tests.support.databases import create_database, drop_database, migrated_engine

START = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
EU, US, AU = "europe-west1.gcp", "us-central1.gcp", "australia-southeast1.gcp"
TIER1_KEY, TIER2_KEY = "tier1-routing-key", "tier2-routing-key"


def status_settings(data_dir: Path, url: str) -> Settings:
    return replace(Settings(), data_dir=data_dir, database_url=url, http_port=0,
                   secret_key="test-secret", probe_interval_s=30,
                   pagerduty_routing_key_tier1=TIER1_KEY,
                   pagerduty_routing_key_tier2=TIER2_KEY,
                   # Incidents open in the pass that sees the failure; the group wait has
                   # its own tests (test_episodes).
                   extra={"incident_group_wait_s": 0})


@pytest.fixture
def fresh_engine(tmp_path: Path) -> Iterator[Engine]:
    """A database of its own: the incident job looks at every row."""
    with migrated_engine(tmp_path, "status") as engine:
        yield engine


@pytest.fixture(scope="module")
def module_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database per test module: the shared one stays free of incidents."""
    url = create_database(tmp_path_factory.mktemp("status-db"), "statusweb")
    migrate.upgrade(url)
    yield url
    drop_database(url)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def status_app(tmp_path: Path, module_url: str, clock: ManualClock) -> Iterator[Flask]:
    app = create_app(status_settings(tmp_path, module_url), clock=clock)
    yield app
    app.extensions["bellwether"].engine.dispose()


@pytest.fixture
def api(status_app: Flask) -> FlaskClient:
    return status_app.test_client()


@pytest.fixture
def app_engine(status_app: Flask) -> Engine:
    engine: Engine = status_app.extensions["bellwether"].engine
    return engine


@pytest.fixture
def make_user(app_engine: Engine) -> Callable[[Role], tuple[int, str, str]]:
    """A committed user and an API token: (id, e-mail, token). Web tests put the user in
    the session (`log_in`); the password form is tested in tests/core/test_login.py."""

    def make(role: Role) -> tuple[int, str, str]:
        email = f"{role.value}-{uuid.uuid4().hex[:8]}@example.test"
        with session_scope(make_session_factory(app_engine)) as session:
            user = create_user(session, email=email, role=role, now=START)
            return user.id, email, create_token(session, user, name="test", now=START)

    return make


def log_in(client: FlaskClient, user_id: int, at: datetime = START) -> str:
    """Give the client a logged-in session (as /login would); its CSRF token."""
    with client.session_transaction() as session:
        session["user_id"] = user_id
        session["login_at"] = at.isoformat()
        session["csrf"] = token = uuid.uuid4().hex
    return token


def csrf_token_of(client: FlaskClient) -> str:
    """The session's CSRF token, made if the session has none yet."""
    with client.session_transaction() as session:
        token = session.setdefault("csrf", uuid.uuid4().hex)
    return str(token)


def in_session(engine: Engine) -> Session:
    return make_session_factory(engine)()
