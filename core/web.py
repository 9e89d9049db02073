"""Flask plumbing every blueprint shares: the request session, JSON bodies, roles, errors.

Errors answer an API client (any `/api/` path, or a caller that does not prefer HTML) with
the contract's JSON problem body, and a browser with a page that says what happened in
words, with the same status code and a way back (its home, or the login form).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from flask import Flask, Response, current_app, g, jsonify, render_template, request
from sqlalchemy.exc import DataError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter, Map

from core.auth import Principal, principal_for_token
from core.db import end_web_request, is_lock_timeout, mark_web_request, session_scope
from core.errors import BellwetherError, Forbidden, Unauthorized
from core.models import Role
from core.runtime import Runtime

F = TypeVar("F", bound=Callable[..., Any])


def current_runtime() -> Runtime:
    return cast(Runtime, current_app.extensions["bellwether"])


def request_session() -> Session:
    """One session per request, opened lazily and closed on teardown; it waits for the
    write lock as a web request (at most core.db.WEB_BUSY_TIMEOUT_MS)."""
    if "db_session" not in g:
        _mark_request()
        g.db_session = current_runtime().session_factory()
    return cast(Session, g.db_session)


def _mark_request() -> None:
    mark_web_request(f"web {request.method} {request.endpoint}")
    g.db_web_request = True


def close_request_session(_exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()
    if g.pop("db_web_request", False):
        end_web_request()


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 400 that says what is wrong with it."""
    if not request.is_json:
        raise BellwetherError("send a JSON object with Content-Type: application/json",
                              status=415, code="unsupported_media_type")
    body = request.get_json(silent=True)
    if body is None:
        raise BellwetherError("the body is not valid JSON", code="malformed_json")
    if not isinstance(body, dict):
        raise BellwetherError("the body must be a JSON object", code="malformed_json")
    return body


def bearer_principal() -> Principal | None:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    runtime = current_runtime()
    _mark_request()
    with session_scope(runtime.session_factory) as session:
        return principal_for_token(session, secret.strip(), runtime.clock.now())


def require_role(*roles: Role) -> Callable[[F], F]:
    """Allow the listed roles (admins always); 401 without a valid token, 403 with the wrong one."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            principal = bearer_principal()
            if principal is None:
                raise Unauthorized("a valid API token is required (Authorization: Bearer …)")
            if principal.role is not Role.ADMIN and principal.role not in roles:
                raise Forbidden(f"the {principal.role.value} role may not do this")
            g.principal = principal
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorate


def problem(status: int, code: str, detail: str, retry_after: int | None = None) -> Response:
    """The error for whoever asked: the JSON problem body, or a page for a browser."""
    if wants_html():
        response = error_page(status, code, detail)
    else:
        response = jsonify({"error": code, "detail": detail})
        response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def wants_html() -> bool:
    """A browser asking for a page: not an `/api/` path, and HTML preferred over JSON
    (a client that sends no Accept header, or `*/*`, gets JSON as before)."""
    if request.path.startswith("/api/"):
        return False
    accept = request.accept_mimetypes
    return accept.best_match(["application/json", "text/html"]) == "text/html" \
        and accept["text/html"] > accept["application/json"]


@dataclass(frozen=True, slots=True)
class PageError:
    """What an error page shows (templates/admin/error.html reads the same fields from a
    BellwetherError, which status.admin hands it for refused forms)."""

    status: int
    code: str
    detail: str


def error_page(status: int, code: str, detail: str) -> Response:
    """The error as a page: what happened in words, and a way back."""
    _user_without_failing()
    if status >= 500 and status not in (503, 507):
        detail = "the server failed to answer this request; it has been logged"
    body = render_template("admin/error.html", error=PageError(status, code, detail),
                           path=request.full_path.rstrip("?"))
    return Response(body, status=status, mimetype="text/html")


def _user_without_failing() -> None:
    """Look the logged-in user up for the page's navigation, unless the database is what
    failed: then the page is shown without one (`current_user()` reads `g.web_user`)."""
    if "web_user" in g:
        return
    from core.login import current_user  # core.login builds on this module

    close_request_session(None)  # a failed transaction must not fail the lookup too
    try:
        current_user()
    except SQLAlchemyError:
        g.web_user = None
    finally:
        close_request_session(None)


class StoreId(IntegerConverter):
    """`<int:…>` in routes, bounded to what an id column holds: past it is a 404 from the
    router, never a database error."""

    def __init__(self, url_map: Map, fixed_digits: int = 0, min: int | None = 0,
                 max: int | None = 2**31 - 1, signed: bool = False) -> None:
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


#: The heading of a browser's error page, by status.
ERROR_TITLES = {401: "Please log in", 403: "Not for your role", 404: "Page not found",
                405: "Not possible here", 413: "Too large", 429: "Too many requests",
                503: "Temporarily unavailable", 507: "Storage full"}


def error_title(status: int) -> str:
    if status in ERROR_TITLES:
        return ERROR_TITLES[status]
    return "Something went wrong" if status >= 500 else "That did not work"


def register_error_handlers(app: Flask) -> None:
    """Errors become the contract's JSON problem bodies, or pages for browsers."""
    app.url_map.converters["int"] = StoreId
    app.jinja_env.globals["error_title"] = error_title

    @app.errorhandler(BellwetherError)
    def handle_bellwether_error(exc: BellwetherError) -> Response:
        return problem(exc.status, exc.code, exc.detail)

    @app.errorhandler(DataError)
    def handle_out_of_range(exc: DataError) -> Response:
        """A value the database cannot hold (an id past 2**31 on PostgreSQL): the caller's
        mistake, refused like any other bad input."""
        close_request_session(None)
        return problem(400, "bad_request", "a value is out of the range the store accepts")

    @app.errorhandler(OperationalError)
    def handle_database_trouble(exc: OperationalError) -> Response:
        """The database is away or full: a clear 503/507, never a bare 500 (nothing half
        written: the request's transaction is rolled back)."""
        close_request_session(None)
        g.web_user = g.get("web_user")  # no new query for the error page's navigation
        text = str(exc.orig or exc).lower()
        if "disk is full" in text or "no space left" in text:
            return problem(507, "storage_full", "the database's disk is full; nothing was "
                                                "stored. Free space and try again")
        if is_lock_timeout(exc):
            return problem(503, "database_busy", "the database is busy with other writes; "
                                                 "nothing was stored. Try again in a second",
                           retry_after=1)
        return problem(503, "database_unavailable",
                       "the database cannot be reached right now; try again shortly",
                       retry_after=5)

    @app.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException) -> Response:
        code = (exc.name or "error").lower().replace(" ", "_")
        return problem(exc.code or 500, code, exc.description or code)
