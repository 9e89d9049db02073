"""Password login for the web UI: sessions, CSRF on the form, rate limit, logout, expiry."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from werkzeug.test import TestResponse

from app import create_app
from core.auth import create_user
from core.config import Settings
from core.db import make_session_factory, session_scope
from core.models import Role, User
from tests.support.clock import ManualClock

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def login_app(settings: Settings, clock: ManualClock) -> Iterator[Flask]:
    app = create_app(settings, clock=clock)
    yield app
    app.extensions["bellwether"].engine.dispose()


@pytest.fixture
def browser(login_app: Flask) -> FlaskClient:
    return login_app.test_client()


def a_user(engine: Engine, role: Role = Role.SUPPORT) -> str:
    email = f"{role.value}-{uuid.uuid4().hex[:8]}@example.test"
    with session_scope(make_session_factory(engine)) as session:
        create_user(session, email=email, role=role, now=NOW, password=PASSWORD)
    return email


def token_of(client: FlaskClient) -> str:
    """The CSRF token the login form carries (GET /login puts one in the session)."""
    client.get("/login")
    with client.session_transaction() as session:
        return str(session["csrf"])


def log_in(client: FlaskClient, email: str, password: str = PASSWORD,
           **extra: str) -> TestResponse:
    return client.post("/login", data={"csrf_token": token_of(client), "email": email,
                                       "password": password, **extra})


def test_a_support_engineer_logs_in_with_a_safe_session_cookie(browser: FlaskClient,
                                                               engine: Engine) -> None:
    email = a_user(engine)
    before = token_of(browser)
    response = browser.post("/login", data={"csrf_token": before, "email": email.upper(),
                                            "password": PASSWORD})
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/incidents"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    with browser.session_transaction() as session:
        assert session["csrf"] != before  # a token seen before login is worth nothing
    assert browser.get("/admin/incidents").status_code == 200


def test_wrong_passwords_and_unknown_addresses_get_the_same_answer(browser: FlaskClient,
                                                                   engine: Engine) -> None:
    email = a_user(engine)
    wrong = log_in(browser, email, "not it")
    unknown = log_in(browser, "nobody@example.test")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "Unknown e-mail address or wrong password." in response.get_data(as_text=True)
    assert browser.get("/admin/incidents").status_code == 302


def test_the_login_form_needs_its_csrf_token(browser: FlaskClient, engine: Engine) -> None:
    email = a_user(engine)
    response = browser.post("/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 400
    assert browser.get("/admin/incidents").status_code == 302


def test_logins_are_rate_limited_per_address(browser: FlaskClient, login_app: Flask,
                                             engine: Engine, clock: ManualClock) -> None:
    email = a_user(engine)
    for _ in range(10):
        assert log_in(browser, email, "guess").status_code == 401
    blocked = log_in(browser, email)
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    elsewhere = login_app.test_client()
    other = elsewhere.post("/login", environ_base={"REMOTE_ADDR": "10.1.2.3"},
                           data={"csrf_token": token_of(elsewhere), "email": email,
                                 "password": PASSWORD})
    assert other.status_code == 303
    clock.advance(timedelta(minutes=5))
    assert log_in(browser, email).status_code == 303


def test_logout_ends_the_session(browser: FlaskClient, engine: Engine) -> None:
    log_in(browser, a_user(engine))
    with browser.session_transaction() as session:
        token = session["csrf"]
    assert browser.post("/logout", data={"csrf_token": token}).status_code == 303
    assert browser.get("/admin/incidents").headers["Location"].startswith("/login")


def test_sessions_expire_and_follow_the_account(browser: FlaskClient, engine: Engine,
                                               clock: ManualClock) -> None:
    email = a_user(engine)
    log_in(browser, email)
    clock.advance(timedelta(hours=11))
    assert browser.get("/admin/incidents").status_code == 200
    with session_scope(make_session_factory(engine)) as session:
        user = session.query(User).filter_by(email=email).one()
        user.active = False
    assert browser.get("/admin/incidents").status_code == 302
    other = a_user(engine)
    log_in(browser, other)
    clock.advance(timedelta(hours=12))
    assert browser.get("/admin/incidents").status_code == 302


def test_it_returns_to_a_local_page_only(browser: FlaskClient, engine: Engine) -> None:
    email = a_user(engine)
    local = log_in(browser, email, next="/admin/maintenance")
    assert local.headers["Location"] == "/admin/maintenance"
    away = log_in(browser, email, next="//evil.example/")
    assert away.headers["Location"] == "/admin/incidents"
    manager = log_in(browser, a_user(engine, Role.ACCOUNT_MANAGER))
    assert manager.headers["Location"] == "/reports/customers"  # their own home
