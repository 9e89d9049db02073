"""Errors, as a browser and as an API client get them: a page in words with a way back and
the right status for a browser; the JSON problem body, exactly as before, for the API."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from app import create_app
from core.auth import create_user
from core.config import Settings
from core.db import make_session_factory, session_scope
from core.models import Role

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
JSON = {"Accept": "application/json"}
NOT_FOUND_DETAIL = ("The requested URL was not found on the server. If you entered the URL "
                    "manually please check your spelling and try again.")


def words(html: str) -> str:
    inline = re.sub(r"</?(?:span|a|code|em|strong)\b[^>]*>", "", html)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", inline))


@pytest.fixture
def failing_app(settings: Settings) -> Iterator[Flask]:
    """The app with a page and an API route that fail as a bug would."""
    app = create_app(settings)

    def fail() -> str:
        raise RuntimeError("secret internals: connection string postgres://x")

    app.add_url_rule("/reports/broken", "broken_page", fail)
    app.add_url_rule("/api/v1/broken", "broken_api", fail)
    yield app
    app.extensions["bellwether"].engine.dispose()


def logged_in(app: Flask, engine: Engine, role: Role) -> tuple[FlaskClient, str]:
    email = f"{role.value}-{uuid.uuid4().hex[:8]}@example.test"
    with session_scope(make_session_factory(engine)) as session:
        user = create_user(session, email=email, role=role,
                           now=app.extensions["bellwether"].clock.now())
        user_id = user.id
    client = app.test_client()
    with client.session_transaction() as session:
        session["user_id"] = user_id
        session["login_at"] = app.extensions["bellwether"].clock.now().isoformat()
        session["csrf"] = "token"
    return client, email


def test_a_browser_gets_a_not_found_page_and_an_api_client_the_problem_body(
        client: FlaskClient) -> None:
    page = client.get("/no/such/page", headers=BROWSER)
    assert page.status_code == 404
    assert page.mimetype == "text/html"
    text = words(page.get_data(as_text=True))
    assert "Page not found" in text
    assert "There is no page at /no/such/page." in text
    assert '<a href="/">Go to the public status page</a>' in page.get_data(as_text=True)
    for headers in ({}, JSON, {"Accept": "*/*"}):
        answer = client.get("/no/such/page", headers=headers)
        assert answer.status_code == 404
        assert answer.get_json() == {"error": "not_found", "detail": NOT_FOUND_DETAIL}
    api = client.get("/api/v1/no-such-thing", headers=BROWSER)  # an /api/ path: JSON always
    assert api.status_code == 404
    assert api.get_json() == {"error": "not_found", "detail": NOT_FOUND_DETAIL}


def test_a_forbidden_page_says_so_in_words_with_a_way_home(app: Flask, engine: Engine) -> None:
    client, email = logged_in(app, engine, Role.ACCOUNT_MANAGER)
    page = client.get("/admin/incidents", headers=BROWSER)
    assert page.status_code == 403
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "<h1>Not for your role</h1>" in html
    assert (f"You are logged in as {email} (account manager), and this page is not for "
            "that role.") in words(html)
    assert '<a href="/reports/customers">Back to your home page</a>' in html
    assert "{" not in words(html)  # no JSON in sight
    html = client.get("/admin/backups", headers=BROWSER).get_data(as_text=True)
    assert "<h1>Not for your role</h1>" in html
    answer = client.get("/admin/backups")  # no Accept: an API-style client
    assert answer.status_code == 403
    assert answer.get_json() == {"error": "forbidden",
                                 "detail": "the account_manager role may not do this"}


def test_an_api_client_keeps_its_json_problems(client: FlaskClient, admin_token: str) -> None:
    anonymous = client.get("/api/v1/agents", headers=BROWSER)
    assert anonymous.status_code == 401
    assert anonymous.get_json() == {
        "error": "unauthorized",
        "detail": "a valid API token is required (Authorization: Bearer …)"}
    refused = client.post("/api/v1/customers", headers={
        "Authorization": f"Bearer {admin_token}", **BROWSER}, data="x")
    assert refused.status_code == 415
    assert refused.get_json()["error"] == "unsupported_media_type"


def test_a_logged_out_browser_is_sent_to_log_in_with_a_way_back(client: FlaskClient) -> None:
    answer = client.get("/admin/backups", headers=BROWSER)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/login?next=/admin/backups"
    with client.session_transaction() as session:
        session["csrf"] = "token"
    posted = client.post("/admin/maintenance", headers=BROWSER, data={"csrf_token": "token"})
    assert posted.status_code == 401
    html = posted.get_data(as_text=True)
    assert "<h1>Please log in</h1>" in html
    assert '<a href="/login">Log in</a>' in html
    form = client.post("/reports/customers/new", headers=BROWSER, data={"csrf_token": "token"})
    assert form.status_code == 401
    assert "<h1>Please log in</h1>" in form.get_data(as_text=True)
    assert client.post("/reports/customers/new", data={"csrf_token": "token"}).get_json() == {
        "error": "unauthorized", "detail": "log in first"}


def test_a_form_refusal_is_a_page_that_says_what_to_fix(client: FlaskClient) -> None:
    page = client.post("/login", headers=BROWSER, data={"email": "a@b.test"})  # no CSRF token
    assert page.status_code == 400
    text = words(page.get_data(as_text=True))
    assert "That did not work" in text
    assert "the form is missing its CSRF token or it has expired" in text
    assert client.post("/login", data={"email": "a@b.test"}).get_json()["error"] == "csrf_failed"


def test_a_failing_page_is_a_500_page_without_internals(failing_app: Flask,
                                                        engine: Engine) -> None:
    client, _ = logged_in(failing_app, engine, Role.ADMIN)
    page = client.get("/reports/broken", headers=BROWSER)
    assert page.status_code == 500
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "<h1>Something went wrong</h1>" in html
    assert "Bellwether could not answer this request" in words(html)
    assert "secret internals" not in html
    assert '<a href="/admin">go back to your home page</a>' in html
    assert '<nav aria-label="Main"' in html  # still logged in, still with a way around
    api = client.get("/api/v1/broken", headers=BROWSER)
    assert api.status_code == 500
    assert api.get_json()["error"] == "internal_server_error"
    assert "secret internals" not in api.get_data(as_text=True)
