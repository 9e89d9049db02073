"""One availability zone: a WSGI app serving every commerce service of its region.

Before a request reaches a service, the zone applies the active faults (service down, added
latency, error rate) and, for everything but auth itself, asks the auth service to check the
token: when auth is down, every service refuses, as the paper's single point of failure.
Every answer, injected errors included, is counted for GET /metrics (commerce/metrics.py).

On SQLite the commerce set shares Bellwether's one write lock, so a request reads in a
read scope (`zone_session`: deferred and query-only, never the write lock) and only a
handler that writes asks for `zone_write_session`, whose transaction it keeps short. The
region's signing secret and the projects that exist never change once made, so the zones
keep them in a `ZoneCache` and a token check costs no query at all.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, cast

from flask import Flask, Response, current_app, g, jsonify, request
from sqlalchemy.orm import Session

from commerce import store
from commerce.catalog import Service, service_for_path
from commerce.faults import FaultView
from commerce.metrics import MetricsMiddleware, ZoneMetrics
from commerce.models import Project
from commerce.tokens import verify_token
from core.clock import Clock
from core.db import SessionFactory, read_scope, session_scope
from core.errors import Forbidden, NotFound, Unauthorized, Unavailable
from core.web import register_error_handlers


class ZoneCache:
    """What never changes once made, kept per process: each region's signing secret and
    the projects that exist (detached rows whose loaded columns are only read).

    Nothing in Bellwether deletes a region's secret or a project, so an entry stays true;
    only what was found is kept, so a project made after a miss is seen on the next request.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: dict[str, str] = {}
        self._projects: dict[tuple[str, str], Project] = {}

    def region_secret(self, factory: SessionFactory, region: str, clock: Clock) -> str:
        """The secret from memory, else read (no write lock), else made in a short write."""
        secret = self._secrets.get(region)
        if secret is None:
            with read_scope(factory) as session:
                secret = store.stored_region_secret(session, region)
            if secret is None:
                with session_scope(factory) as session:
                    secret = store.region_secret(session, region, clock.now())
            with self._lock:
                self._secrets[region] = secret
        return secret

    def project(self, session: Callable[[], Session], region: str, key: str) -> Project | None:
        """The project from memory, else read in `session()` (a read scope) and kept."""
        project = self._projects.get((region, key))
        if project is None:
            read = session()
            project = store.project_by_key(read, region, key)
            if project is not None:
                read.expunge(project)
                with self._lock:
                    self._projects[(region, key)] = project
        return project


@dataclass
class ZoneContext:
    """What a zone needs from the fleet: where it is, the store, the clock, the faults."""

    region: str
    zone: str
    session_factory: SessionFactory
    clock: Clock
    faults: Callable[[], FaultView]
    max_body_bytes: int = 1_048_576
    cache: ZoneCache = field(default_factory=ZoneCache)


def zone_context() -> ZoneContext:
    return cast(ZoneContext, current_app.extensions["zone"])


def zone_session() -> Session:
    """This request's read session: a read scope, so reading never takes the write lock."""
    if "zone_session" not in g:
        stack = ExitStack()
        g.zone_session = stack.enter_context(read_scope(zone_context().session_factory))
        g.zone_read_scope = stack
    return cast(Session, g.zone_session)


def zone_write_session() -> Session:
    """A session for this request's write: its first statement takes the write lock (on
    SQLite), so a handler asks for it after validating, reads and writes in it, and commits.
    The read scope ends first: one connection per request at a time."""
    _end_read_scope()
    if "zone_write_session" not in g:
        g.zone_write_session = zone_context().session_factory()
    return cast(Session, g.zone_write_session)


def _end_read_scope() -> None:
    g.pop("zone_session", None)
    stack: ExitStack | None = g.pop("zone_read_scope", None)
    if stack is not None:
        stack.close()


def require_writable() -> None:
    """A region whose database is down refuses writes; reads go on."""
    ctx = zone_context()
    if ctx.faults().database_down(ctx.region):
        raise Unavailable(f"the {ctx.region} database refuses writes", code="database_unavailable")


def current_project() -> Project:
    return cast(Project, g.project)


def _apply_faults(ctx: ZoneContext, service: Service | None) -> None:
    faults = ctx.faults()
    name = service.name if service else None
    delay_ms = faults.added_latency_ms(ctx.region, ctx.zone, name)
    if delay_ms > 0:
        ctx.clock.sleep(delay_ms / 1000.0)
    if service is not None and service.name == "auth" and faults.auth_down(ctx.region):
        raise Unavailable(f"auth is down in {ctx.region}", code="auth_unavailable")
    if service is not None and faults.service_down(ctx.region, service.name):
        raise Unavailable(f"{service.name} is down in {ctx.region}", code="service_unavailable")
    rate = faults.error_rate(ctx.region, ctx.zone, name)
    if rate > 0 and random.random() < rate:
        raise Unavailable("injected error", status=500, code="internal_error")


def _authenticate(ctx: ZoneContext, project_key: str) -> None:
    if ctx.faults().auth_down(ctx.region):
        raise Unavailable(f"auth is down in {ctx.region}: tokens cannot be checked",
                          code="auth_unavailable")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("an access token is required (Authorization: Bearer …)",
                           code="invalid_token")
    secret = ctx.cache.region_secret(ctx.session_factory, ctx.region, ctx.clock)
    claims = verify_token(secret, token, ctx.clock.now())
    if claims.project_key != project_key:
        raise Forbidden(f"the token is for project {claims.project_key!r}, not {project_key!r}")
    project = ctx.cache.project(zone_session, ctx.region, project_key)
    if project is None:
        raise NotFound(f"no project {project_key!r} in {ctx.region}")
    g.project = project


def _before_request() -> None:
    ctx = zone_context()
    if request.path == "/healthz":
        return
    service = service_for_path(request.path)
    _apply_faults(ctx, service)
    if service is not None and service.name != "auth":
        _authenticate(ctx, request.path.strip("/").split("/")[0])


def _close_session(_exc: BaseException | None) -> None:
    _end_read_scope()
    session: Session | None = g.pop("zone_write_session", None)
    if session is not None:
        session.close()


def _add_zone_header(response: Response) -> Response:
    ctx = zone_context()
    response.headers["X-Bellwether-Zone"] = f"{ctx.region}/{ctx.zone}"
    return response


def create_zone_app(ctx: ZoneContext) -> Flask:
    """A fresh zone app with every service's blueprint, counting its requests for /metrics."""
    from commerce.services import audit_log, auth, carts, imports, messages, orders, products

    app = Flask(f"zone-{ctx.region}-{ctx.zone}")
    app.config["MAX_CONTENT_LENGTH"] = ctx.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["zone"] = ctx
    register_error_handlers(app)
    app.before_request(_before_request)
    app.after_request(_add_zone_header)
    app.teardown_appcontext(_close_session)
    app.wsgi_app = MetricsMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, ZoneMetrics(ctx.region, ctx.zone), ctx.clock.monotonic)
    for module in (auth, products, carts, orders, messages, audit_log, imports):
        app.register_blueprint(module.bp)

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify({"status": "ok", "region": ctx.region, "zone": ctx.zone})

    return app
