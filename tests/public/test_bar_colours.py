"""A day bar's colour is the day's worst state, degraded and partial outages included: read
from the database (minute rollups, the probes' live-state history, a declared incident, a
maintenance window) and checked as Chromium paints it (computed style, not class names):
each day in its legend's colour, in light and in dark mode (text readable in both), and a
375 px wide screen that never scrolls sideways; no page logs an error or a CSP violation."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from app import create_app
from core import migrate
from core.config import Settings
from core.db import session_scope
from core.runtime import Runtime
from core.servers import Listener
from probes import store as probe_store
from probes.evaluate import Evaluation, State
from reports.counts import day_first_minute
from status.models import Incident, IncidentComponent
from status.site import sla_daily_bars
from tests.reports.builders import add_maintenance, insert_rollups
from tests.support.clock import ManualClock
from tests.support.databases import create_database, drop_database

NOW = datetime(2026, 10, 10, 12, 0, tzinfo=UTC)
REGION = "europe-west1.gcp"
DOWN, DEGRADED, PARTIAL, OK, NO_DATA = (date(2026, 10, d) for d in (5, 6, 7, 8, 9))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
#: What a sighted visitor must tell apart (static/status.css, the state dots' colours).
PAINTED = {DOWN: "rgb(209, 36, 47)", PARTIAL: "rgb(225, 111, 36)",
           DEGRADED: "rgb(191, 135, 0)", OK: "rgb(26, 127, 55)",
           NO_DATA: "rgb(208, 215, 222)"}
DAYS = tuple(day.isoformat() for day in PAINTED)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def whole_day(day: date, down: int = 0) -> list[tuple[int, str, int]]:
    """A day of rollups from three locations, its first `down` minutes down."""
    first = day_first_minute(day)
    return [(first + m, "down" if m < down else "up", 3) for m in range(1440)]


def live(session: Session, component: str, state: State, when: datetime) -> None:
    """A live state as the evaluation job records it (with its history row)."""
    known = probe_store.states(session).get((component, REGION))
    probe_store.record_state(session, component, REGION, Evaluation(state, "test"), when,
                             known)
    session.flush()


def seed(session: Session) -> None:
    """orders: 30 minutes down on the 5th, slow for 20 minutes on the 6th, a partial outage
    for half an hour on the 7th, a clean 8th, nothing on the 9th; carts: clean days, and a
    partial outage support declared on the 8th while the probes passed; search: clean days
    and an hour of maintenance on the 8th."""
    for day in (DOWN, DEGRADED, PARTIAL, OK):
        insert_rollups(session, "orders", REGION, whole_day(day, 30 if day == DOWN else 0))
        insert_rollups(session, "carts", REGION, whole_day(day))
        insert_rollups(session, "search", REGION, whole_day(day))
    add_maintenance(session, at(OK, 2), at(OK, 3), [("search", REGION)])
    live(session, "orders", State.DEGRADED_PERFORMANCE, at(DEGRADED, 10))
    live(session, "orders", State.OPERATIONAL, at(DEGRADED, 10, 20))
    live(session, "orders", State.PARTIAL_OUTAGE, at(PARTIAL, 9))
    live(session, "orders", State.OPERATIONAL, at(PARTIAL, 9, 30))
    incident = Incident(title="Carts failing for some", impact="minor", status="resolved",
                        origin="declared", opened_at=at(OK, 10), updated_at=at(OK, 11),
                        resolved_at=at(OK, 11))
    incident.components.append(IncidentComponent(component="carts", region=REGION,
                                                 state="partial_outage",
                                                 first_affected_at=at(OK, 10)))
    session.add(incident)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Flask]:
    """An app on a database of its own, seeded, its clock at NOW."""
    url = create_database(tmp_path, "bars")
    migrate.upgrade(url)
    settings = replace(Settings(), data_dir=tmp_path, database_url=url,
                       secret_key="bars-secret")
    app = create_app(settings, clock=ManualClock(NOW))
    runtime: Runtime = app.extensions["bellwether"]
    with session_scope(runtime.session_factory) as session:
        seed(session)
    yield app
    runtime.engine.dispose()
    drop_database(url)


def test_each_days_bar_carries_its_worst_state(site: Flask) -> None:
    runtime: Runtime = site.extensions["bellwether"]
    with session_scope(runtime.session_factory) as session:
        orders = {bar.day: bar for bar in sla_daily_bars(session, "orders", REGION,
                                                         DOWN, 6, NOW)}
        carts = {bar.day: bar for bar in sla_daily_bars(session, "carts", REGION,
                                                        DOWN, 6, NOW)}
        search = sla_daily_bars(session, "search", REGION, OK, 1, NOW)
    assert {day: bar.worst for day, bar in orders.items()} == {
        DOWN: "major_outage", DEGRADED: "degraded_performance", PARTIAL: "partial_outage",
        OK: "operational", NO_DATA: "no_data", NOW.date(): "no_data"}
    assert [carts[day].worst for day in (PARTIAL, OK)] == ["operational", "partial_outage"]
    assert [bar.worst for bar in search] == ["under_maintenance"]
    html = site.test_client().get(f"/regions/{REGION}/").get_data(as_text=True)
    words = re.findall(r'class="worst-([a-z_]+)"><span>(2026-10-0[5-9]: [^<]+)</span>',
                       html.partition('id="component-orders"')[2].partition("</ol>")[0])
    assert words == [
        ("major_outage", "2026-10-05: 97.92 % uptime, 30 min down; major outage"),
        ("degraded_performance", "2026-10-06: 100.00 % uptime; degraded performance"),
        ("partial_outage", "2026-10-07: 100.00 % uptime; partial outage"),
        ("operational", "2026-10-08: 100.00 % uptime"),
        ("no_data", "2026-10-09: no data")]


def chromium_or_skip() -> None:
    if shutil.which(CHROMIUM):
        return
    if os.environ.get("CI") == "true":
        pytest.fail("Chromium (Debian package chromium) is required under CI=true")
    pytest.skip("Chromium is not installed (apt-get install chromium)")


#: Runs in every document before its own scripts: CSP violations reach Python at once.
CSP_PROBE = """
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolation(e.violatedDirective + " blocked " + (e.blockedURI || "inline"));
});
"""
#: [day, bar colour, legend colour of the bar's state] for each bar of a component.
PAINTED_DAYS = """days => days.map(d => [
  d.querySelector('span').textContent.slice(0, 10), getComputedStyle(d).backgroundColor,
  getComputedStyle(document.querySelector('.legend .' + d.className)).backgroundColor])"""
#: WCAG contrast of each element's text against the background it is painted on.
CONTRAST = """selectors => {
  const rgb = s => s.match(/[0-9.]+/g).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(c => c / 255)
    .map(c => c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4))
    .reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
  const ground = e => {
    for (; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length < 4 || c[3] > 0) { return c; }
    }
    return [255, 255, 255];
  };
  const out = {};
  for (const selector of selectors) {
    const e = document.querySelector(selector);
    if (!e) { out[selector] = null; continue; }
    const [a, b] = [lum(rgb(getComputedStyle(e).color)), lum(ground(e))];
    out[selector] = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  }
  return out;
}"""
#: Text a visitor reads on a region page, in each colour scheme.
TEXTS = ("h1", ".overall a", "header.site nav a", ".component-head h3", ".state",
         ".bar-foot .uptime", ".legend li", "details.latency > summary", "footer.site p",
         ".tier h2")


class Watched:
    """A Playwright page whose console errors, uncaught exceptions, failed requests and CSP
    violations are collected on every document it loads."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.problems: list[str] = []
        page.expose_binding("__cspViolation", lambda source, text: self.problems.append(
            f"CSP violation ({text}) on {source['frame'].url}"))
        page.add_init_script(CSP_PROBE)
        page.on("console", lambda msg: self.problems.append(
            f"console error on {page.url}: {msg.text}") if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.problems.append(f"exception on {page.url}: {exc}"))
        page.on("requestfailed", lambda request: self.problems.append(
            f"request failed: {request.url}"))

    def open(self, url: str) -> None:
        self.page.goto(url, wait_until="networkidle")


@pytest.fixture
def web(site: Flask) -> Iterator[str]:
    chromium_or_skip()
    listener = Listener("bars-web", site)
    listener.start()
    try:
        yield listener.url
    finally:
        listener.stop()


def painted(page: Any, component: str) -> dict[str, tuple[str, str]]:
    rows = page.locator(f"#component-{component} .bars > li").evaluate_all(PAINTED_DAYS)
    return {day: (bar, legend) for day, bar, legend in rows}


#: Text on the other pages a visitor reads, in each colour scheme.
OTHER_TEXTS = {"/": ("h1", "header.site a", "table.regions th", "table.regions th a", ".state",
                     "footer.site p"),
               "/subscribe": ("h1", "legend", "label", "header.site a"),
               "/history": ("h1", "article h3 a", ".meta", "header.site nav a")}


def contrast(page: Any, texts: Sequence[str] = TEXTS) -> dict[str, float]:
    ratios: dict[str, float] = page.evaluate(CONTRAST, list(texts))
    return ratios


@pytest.mark.e2e
def test_chromium_paints_each_days_state_in_its_legend_colour_light_and_dark(
        web: str) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    schemes: dict[str, dict[str, tuple[str, str]]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            for scheme in ("light", "dark"):
                context = browser.new_context(viewport={"width": 1100, "height": 1400},
                                              color_scheme=scheme)
                watched = Watched(context.new_page())
                watched.open(f"{web}/regions/{REGION}/")
                page = watched.page
                orders, search = painted(page, "orders"), painted(page, "search")
                seen = {day: orders[day] for day in DAYS}
                seen["maintenance"] = search[OK.isoformat()]
                seen["page"] = (page.evaluate("getComputedStyle(document.body).backgroundColor"),
                                page.evaluate("getComputedStyle(document.body).color"))
                schemes[scheme] = seen
                ratios = contrast(page)
                assert all(ratio is not None and ratio >= 4.5 for ratio in ratios.values()), \
                    (scheme, ratios)
                page.screenshot(path=str(ARTIFACTS / f"region-{scheme}.png"), full_page=True)
                for path, texts in OTHER_TEXTS.items():
                    watched.open(f"{web}{path}")
                    ratios = contrast(page, texts)
                    assert all(ratio is not None and ratio >= 4.5
                               for ratio in ratios.values()), (scheme, path, ratios)
                page.screenshot(path=str(ARTIFACTS / f"history-{scheme}.png"), full_page=True)
                assert watched.problems == []
                context.close()
        finally:
            browser.close()
    light, dark = schemes["light"], schemes["dark"]
    assert {day: light[day.isoformat()][0] for day in PAINTED} == PAINTED
    for colours in (light, dark):
        days = [colours[day] for day in (*DAYS, "maintenance")]
        assert all(bar == legend for bar, legend in days)  # each day in its legend colour
        assert len({bar for bar, _ in days}) == 6  # six states, six colours
    assert light["maintenance"][0] == "rgb(9, 105, 218)"
    assert all(light[key] != dark[key] for key in (*DAYS, "maintenance"))
    assert light["page"] != dark["page"]


#: Every kind of public page a visitor reaches from the region page.
NARROW_PAGES = ("/", f"/regions/{REGION}/", "/history", "/subscribe", "/incidents/1")


@pytest.mark.e2e
def test_a_375_px_screen_never_scrolls_sideways_and_shows_30_readable_days(web: str) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 375, "height": 812},
                                          is_mobile=True, has_touch=True)
            watched = Watched(context.new_page())
            page = watched.page
            for path in NARROW_PAGES:
                watched.open(f"{web}{path}")
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= 375, (path, width)
                links = page.locator("header.site a").evaluate_all(
                    "links => links.map(a => a.getBoundingClientRect())"
                    ".map(r => [r.left, r.right, r.height])")
                assert links
                assert all(left >= 0 and right <= 375 and height >= 20
                           for left, right, height in links), (path, links)
            watched.open(f"{web}/regions/{REGION}/")
            shown = page.locator("#component-orders .bars > li").evaluate_all(
                "days => days.filter(d => d.offsetParent !== null)"
                ".map(d => d.getBoundingClientRect().width)")
            assert len(shown) == 30
            assert min(shown) >= 6  # a bar one can see and touch (90 of them: under 3 px)
            assert "30 days ago" in page.locator("#component-orders .bar-foot").inner_text()
            page.screenshot(path=str(ARTIFACTS / "region-375px.png"), full_page=True)
            first = page.locator("#component-orders .bars > li").nth(60)
            first.focus()  # the oldest day shown: its words open inward, on the screen
            tip = first.locator("span").bounding_box()
            assert tip is not None
            assert tip["x"] >= 0
            assert tip["x"] + tip["width"] <= 375
            assert page.evaluate("document.documentElement.scrollWidth") <= 375
            page.screenshot(path=str(ARTIFACTS / "region-375px-day-focused.png"))
            watched.open(f"{web}/")
            page.screenshot(path=str(ARTIFACTS / "overview-375px.png"), full_page=True)
            assert watched.problems == []
            context.close()
        finally:
            browser.close()
