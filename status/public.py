"""The public status site: pages, Statuspage-compatible JSON and Atom feeds.

When the static copy exists (the publish job keeps it fresh), status.static_site answers
its pages before Flask; these views serve what it passes on (a file with a Range request,
say) as files with ETag, Last-Modified and 304s, and otherwise render the same bytes on the
spot, with the same headers (`document_headers`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, request, send_file

from core.errors import BellwetherError, NotFound
from core.headers import FRAMEABLE_CSP
from core.openapi import operation
from core.schemas import request_query
from core.web import current_runtime, request_session
from status import feeds
from status.badges import (
    UPTIME_DAYS,
    Badge,
    component_badge,
    region_badge,
    render_svg,
    uptime_badge,
)
from status.embed import PAGE_FILE, REGION_FILE, embed_html
from status.page import ComponentView, StatusPage
from status.public_store import incident_rows, incident_view
from status.publish import HISTORY_PAGE_SIZE
from status.render import JSON_DOCUMENTS, dumps, json_document, render_html
from status.site import Site, plotly_js
from status.static_site import PLOTLY_MAX_AGE_S, document_headers
from status.statuspage_schemas import DOCUMENTS, RegionQuery

bp = Blueprint("public", __name__)
JSON_MIME = "application/json"
ATOM_MIME = "application/atom+xml"
RSS_MIME = "application/rss+xml"
SVG_MIME = "image/svg+xml"


def _site() -> Site:
    site = current_runtime().parts.get("site")
    if not isinstance(site, Site):
        site = Site(current_runtime().settings)
        current_runtime().parts["site"] = site
    return site


def _published(relative: str) -> Path | None:
    directory = current_runtime().parts.get("public_dir")
    if directory is None:
        return None
    path = Path(directory) / relative
    return path if path.is_file() else None


def _serve(relative: str, mimetype: str, render: Callable[[], str | bytes]) -> Response:
    """The published file (conditional GET), or a fresh rendering of the same content."""
    path = _published(relative)
    if path is not None:
        response = send_file(path, mimetype=mimetype, conditional=True, etag=True, max_age=5)
    else:
        response = Response(render(), mimetype=mimetype)
        response.add_etag()
        response.make_conditional(request)
    response.headers.update(document_headers(mimetype))
    return response


def _page(region: str | None = None) -> StatusPage:
    if region is not None and region not in _site().regions:
        raise NotFound(f"unknown region {region!r}")
    return _site().page(request_session(), current_runtime().clock.now(), region)


def _regions() -> list[str]:
    return list(_site().regions)


@bp.get("/")
def overview() -> Response:
    return _serve("index.html", "text/html", lambda: render_html(
        _site().env, "overview.html", _page(), all_regions=_regions()))


@bp.get("/regions/<region>/")
def region_page(region: str) -> Response:
    def render() -> str:
        page = _page(region)
        return render_html(_site().env, "region.html", page, region=page.region(region),
                           all_regions=_regions())

    return _serve(f"regions/{region}/index.html", "text/html", render)


@bp.get("/regions/<region>/latency.json")
def region_latency(region: str) -> Response:
    """The region page's chart data (status.charts), fetched by the page's chart script."""
    def render() -> str:
        page = _page(region)
        return _site().latency(request_session(), page, current_runtime().clock.now())

    return _serve(f"regions/{region}/latency.json", JSON_MIME, render)


@bp.get("/incidents/<int:incident_id>")
def incident_page(incident_id: int) -> Response:
    def render() -> str:
        page = _page()
        incident = next((i for i in page.incidents if i.id == incident_id), None)
        if incident is None:
            incident = next((incident_view(row) for row in incident_rows(
                request_session(), limit=1, offset=0, incident_id=incident_id)), None)
        if incident is None:
            abort(404)
        return render_html(_site().env, "incident.html", page, incident=incident,
                           all_regions=_regions())

    return _serve(f"incidents/{incident_id}/index.html", "text/html", render)


@bp.get("/maintenances/<int:maintenance_id>")
def maintenance_page(maintenance_id: int) -> Response:
    """A maintenance window's own page: what the feeds and its `shortlink` link to (the
    windows the page shows: upcoming, in progress and those of the last days)."""
    def render() -> str:
        page = _page()
        window = next((m for m in page.maintenances if m.id == maintenance_id), None)
        if window is None:
            abort(404)
        return render_html(_site().env, "maintenance.html", page, window=window,
                           all_regions=_regions())

    return _serve(f"maintenances/{maintenance_id}/index.html", "text/html", render)


@bp.get("/history")
def history() -> Response:
    number = request.args.get("page", "1")
    if not number.isdigit() or int(number) < 1:
        raise BellwetherError("'page' must be a whole number ≥ 1")
    page_number = int(number)
    rows = incident_rows(request_session(), limit=HISTORY_PAGE_SIZE + 1,
                         offset=(page_number - 1) * HISTORY_PAGE_SIZE)
    incidents = [incident_view(row) for row in rows[:HISTORY_PAGE_SIZE]]
    html = render_html(_site().env, "history.html", _page(), incidents=incidents,
                       page_number=page_number, has_more=len(rows) > HISTORY_PAGE_SIZE,
                       all_regions=_regions())
    return Response(html, mimetype="text/html")


def _json(name: str, region: str | None) -> Response:
    if name not in JSON_DOCUMENTS:
        raise NotFound(f"no document {name}.json")
    relative = (f"api/v2/regions/{region}/{name}.json" if region else f"api/v2/{name}.json")
    return _serve(relative, JSON_MIME, lambda: dumps(json_document(_page(region), name)))


@bp.get("/api/v2/<path:name>.json")
@operation(public=True, query=RegionQuery, variants=DOCUMENTS, tags=("statuspage",))
def statuspage_json(name: str) -> Response:
    """Statuspage-compatible public JSON; `?region=` narrows it to one region."""
    return _json(name, request_query(RegionQuery).region or None)


@bp.get("/api/v2/regions/<region>/<path:name>.json")
@operation(public=True, variants=DOCUMENTS, tags=("statuspage",))
def statuspage_region_json(region: str, name: str) -> Response:
    """One region's Statuspage-compatible public JSON (as `?region=`)."""
    return _json(name, region)


@bp.get("/feed.atom")
def atom() -> Response:
    url = current_runtime().settings.effective_public_url
    return _serve("feed.atom", ATOM_MIME, lambda: feeds.atom_feed(_page(), f"{url}/feed.atom"))


@bp.get("/history.atom")
def history_atom() -> Response:
    """Statuspage's path for the page's Atom feed."""
    url = current_runtime().settings.effective_public_url
    return _serve("history.atom", ATOM_MIME,
                  lambda: feeds.atom_feed(_page(), f"{url}/history.atom"))


@bp.get("/history.rss")
def history_rss() -> Response:
    """Statuspage's path for the page's RSS feed."""
    url = current_runtime().settings.effective_public_url
    return _serve("history.rss", RSS_MIME,
                  lambda: feeds.rss_feed(_page(), f"{url}/history.rss"))


@bp.get("/regions/<region>/feed.atom")
def region_atom(region: str) -> Response:
    url = current_runtime().settings.effective_public_url
    return _serve(f"regions/{region}/feed.atom", ATOM_MIME, lambda: feeds.atom_feed(
        _page(region), f"{url}/regions/{region}/feed.atom"))


@bp.get("/regions/<region>/history.atom")
def region_history_atom(region: str) -> Response:
    """One region's Atom feed at Statuspage's feed name."""
    url = current_runtime().settings.effective_public_url
    return _serve(f"regions/{region}/history.atom", ATOM_MIME, lambda: feeds.atom_feed(
        _page(region), f"{url}/regions/{region}/history.atom"))


@bp.get("/regions/<region>/history.rss")
def region_history_rss(region: str) -> Response:
    """One region's RSS feed."""
    url = current_runtime().settings.effective_public_url
    return _serve(f"regions/{region}/history.rss", RSS_MIME, lambda: feeds.rss_feed(
        _page(region), f"{url}/regions/{region}/history.rss"))


@bp.get("/regions/<region>/badge.svg")
def region_badge_svg(region: str) -> Response:
    """The region's status badge (status.badges)."""
    def render() -> str:
        view = _page(region).region(region)
        assert view is not None  # _page refused an unknown region
        return render_svg(region_badge(view))

    return _serve(f"regions/{region}/badge.svg", SVG_MIME, render)


def _component(region: str, component: str) -> ComponentView:
    view = _page(region).region(region)
    found = next((c for c in view.components if c.component == component), None) \
        if view is not None else None
    if found is None:
        raise NotFound(f"no component {component!r} in {region!r}")
    return found


def _component_badge(region: str, component: str, file: str,
                     badge: Callable[[ComponentView], Badge]) -> Response:
    return _serve(f"regions/{region}/components/{component}/{file}", SVG_MIME,
                  lambda: render_svg(badge(_component(region, component))))


@bp.get("/regions/<region>/components/<component>/badge.svg")
def component_badge_svg(region: str, component: str) -> Response:
    """A component's status badge in one region."""
    return _component_badge(region, component, "badge.svg", component_badge)


@bp.get("/regions/<region>/components/<component>/uptime-<int:days>d.svg")
def uptime_badge_svg(region: str, component: str, days: int) -> Response:
    """A component's uptime over the page's last 30 or 90 days, as the page computes it."""
    if days not in UPTIME_DAYS:
        raise NotFound(f"uptime badges cover {' or '.join(map(str, UPTIME_DAYS))} days")
    return _component_badge(region, component, f"uptime-{days}d.svg",
                            lambda view: uptime_badge(view, days))


def _frameable(response: Response) -> Response:
    """The embed may be framed by any site (core.headers.secure adds no X-Frame-Options)."""
    response.headers["Content-Security-Policy"] = FRAMEABLE_CSP
    return response


@bp.get("/embed")
def embed() -> Response:
    """The script-free embed of the whole page, for other sites' iframes (status.embed)."""
    return _frameable(_serve(PAGE_FILE, "text/html",
                             lambda: embed_html(_site().env, _page())))


@bp.get("/regions/<region>/embed")
def region_embed(region: str) -> Response:
    """The embed of one region."""
    return _frameable(_serve(REGION_FILE.format(region=region), "text/html",
                             lambda: embed_html(_site().env, _page(region), region)))


@bp.get("/static/plotly.min.js")
def plotly() -> Any:
    """plotly.js from the installed plotly package: served by us, never from a CDN."""
    path = plotly_js()
    if path is None or not path.exists():
        abort(404)
    return send_file(path, mimetype="text/javascript", conditional=True,
                     max_age=PLOTLY_MAX_AGE_S)
