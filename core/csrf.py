"""CSRF protection for the web UI's forms: one random token per session, checked on every
unsafe request (POST, PUT, PATCH, DELETE) outside `/api/`.

The API authenticates by bearer token only, never by cookie, so a page elsewhere cannot
make a browser send an authenticated API request: it needs no token. Forms carry the token
in a hidden `csrf_token` field; scripts may send it as the `X-CSRF-Token` header.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, request, session

from core.errors import BellwetherError

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SESSION_KEY = "csrf"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
EXEMPT_PREFIX = "/api/"


class CsrfFailed(BellwetherError):
    status = 400
    code = "csrf_failed"


def csrf_token() -> str:
    """This session's token (made on first use); templates call it for hidden fields."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[SESSION_KEY] = token
    return token


def rotate_token() -> str:
    """A new token, e.g. after logging in, so one seen before login is worth nothing."""
    session[SESSION_KEY] = secrets.token_urlsafe(32)
    return str(session[SESSION_KEY])


def protect() -> None:
    """Refuse an unsafe form request whose token is missing or not this session's."""
    if request.method not in UNSAFE_METHODS or request.path.startswith(EXEMPT_PREFIX):
        return
    expected = session.get(SESSION_KEY)
    sent = request.form.get(FIELD) or request.headers.get(HEADER) or ""
    if not isinstance(expected, str) or not expected or not sent \
            or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise CsrfFailed("the form is missing its CSRF token or it has expired; "
                         "reload the page and try again")


def init_app(app: Flask) -> None:
    """Check every request and offer `csrf_token()` to templates."""
    app.before_request(protect)
    app.jinja_env.globals["csrf_token"] = csrf_token
