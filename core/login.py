"""Password login for the web UI: Flask's signed session cookie, CSRF on every form, a rate
limit per client address, and `require_user(*roles)` for pages.

The session holds the user's id and when they logged in; every request re-reads the user,
so a deactivated account or a changed role takes effect at once. Sessions end after
SESSION_MAX_AGE whatever the browser keeps.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, TypeVar, cast

from flask import (
    Blueprint,
    Flask,
    Response,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from sqlalchemy import select

from core import csrf
from core.auth import hash_password, verify_password
from core.errors import Forbidden, Unauthorized
from core.models import Role, User
from core.navigation import NavLink, home_endpoint, links_for
from core.ratelimit import SlidingWindowLimiter
from core.web import current_runtime, request_session

F = TypeVar("F", bound=Callable[..., Any])

bp = Blueprint("login", __name__)
LOGIN_ATTEMPTS = 10
LOGIN_WINDOW = timedelta(minutes=5)
SESSION_MAX_AGE = timedelta(hours=12)
LIMITER_PART = "login_limiter"


@dataclass(frozen=True, slots=True)
class WebUser:
    """The user behind this browser session."""

    id: int
    email: str
    name: str
    role: Role


@bp.record_once
def _configure(state: BlueprintSetupState) -> None:
    app = cast(Flask, state.app)
    runtime = app.extensions["bellwether"]
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=runtime.settings.effective_public_url
                      .startswith("https://"),
                      PERMANENT_SESSION_LIFETIME=SESSION_MAX_AGE)
    runtime.parts.setdefault(LIMITER_PART, SlidingWindowLimiter(
        LOGIN_ATTEMPTS, LOGIN_WINDOW, runtime.clock))
    csrf.init_app(app)
    app.jinja_env.globals.update(current_user=current_user, nav_links=nav_links,
                                 home_url=home_url)


@cache
def _decoy_hash() -> str:
    """Unknown addresses are checked against this, so they take as long as known ones."""
    return hash_password(secrets.token_hex(16))


def current_user() -> WebUser | None:
    """The logged-in, active user of this request, or None."""
    if "web_user" in g:
        return cast(WebUser | None, g.web_user)
    user = None
    user_id, login_at = session.get("user_id"), session.get("login_at")
    if isinstance(user_id, int) and isinstance(login_at, str) and _fresh(login_at):
        row = request_session().get(User, user_id)
        if row is not None and row.active:
            user = WebUser(row.id, row.email, row.name, Role(row.role))
    g.web_user = user
    return user


def _fresh(login_at: str) -> bool:
    try:
        at = datetime.fromisoformat(login_at)
    except ValueError:
        return False
    return at.tzinfo is not None and current_runtime().clock.now() - at < SESSION_MAX_AGE


def require_user(*roles: Role) -> Callable[[F], F]:
    """Allow the listed roles (admins always): anonymous pages go to the login form,
    anonymous form posts get 401, other roles 403."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                if request.method == "GET":
                    return redirect(url_for("login.login_form", next=request.full_path.rstrip("?")))
                raise Unauthorized("log in first")
            if user.role is not Role.ADMIN and user.role not in roles:
                raise Forbidden(f"the {user.role.value} role may not do this")
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorate


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site: never `//elsewhere` or a full URL (open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") \
            and "\\" not in target:
        return target
    return None


def nav_links() -> list[NavLink]:
    """The navigation of this request's user: only the pages their role may open."""
    user = current_user()
    return links_for(user.role) if user is not None else []


def home_url() -> str:
    """This request's user's home (the public status page for nobody logged in)."""
    user = current_user()
    return url_for(home_endpoint(user.role if user is not None else None))


@bp.get("/login")
def login_form() -> Any:
    """The login form."""
    return render_template("auth/login.html", next=_safe_next(request.args.get("next")))


@bp.post("/login")
def login() -> Any:
    """Check e-mail and password; at most LOGIN_ATTEMPTS per LOGIN_WINDOW per address."""
    limiter = cast(SlidingWindowLimiter, current_runtime().parts[LIMITER_PART])
    target = _safe_next(request.form.get("next"))
    wait = limiter.attempt(request.remote_addr or "unknown")
    if wait is not None:
        response = Response(render_template(
            "auth/login.html", next=target,
            error="Too many login attempts from your address; try again in a few minutes."),
            status=429)
        response.headers["Retry-After"] = str(max(1, int(wait.total_seconds())))
        return response
    email = request.form.get("email", "").strip().lower()
    password = request.form.get("password", "")
    user = request_session().scalar(select(User).where(User.email == email)) if email else None
    known = user is not None and user.active and user.password_hash is not None
    stored = user.password_hash if known and user is not None else _decoy_hash()
    if not verify_password(stored, password) or not known or user is None:
        return render_template("auth/login.html", next=target,
                               error="Unknown e-mail address or wrong password."), 401
    session.clear()
    session.permanent = True
    session["user_id"] = user.id
    session["login_at"] = current_runtime().clock.now().isoformat()
    csrf.rotate_token()
    return redirect(target or url_for(home_endpoint(Role(user.role))), code=303)


@bp.post("/logout")
def logout() -> Any:
    """End the session."""
    session.clear()
    return redirect(url_for("login.login_form"), code=303)
