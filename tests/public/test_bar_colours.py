"""A day bar's colour is the day's worst state, degraded and partial outages included: read
from the database (minute rollups, the probes' live-state history, a declared incident) and
checked as Chromium paints it (computed style, not class names)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

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
from tests.reports.builders import insert_rollups
from tests.support.clock import ManualClock
from tests.support.databases import create_database, drop_database

NOW = datetime(2026, 10, 10, 12, 0, tzinfo=UTC)
REGION = "europe-west1.gcp"
DOWN, DEGRADED, PARTIAL, OK, NO_DATA = (date(2026, 10, d) for d in (5, 6, 7, 8, 9))
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
#: What a sighted visitor must tell apart (static/status.css, the state dots' colours).
PAINTED = {DOWN: "rgb(209, 36, 47)", PARTIAL: "rgb(225, 111, 36)",
           DEGRADED: "rgb(191, 135, 0)", OK: "rgb(26, 127, 55)",
           NO_DATA: "rgb(208, 215, 222)"}


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
    partial outage support declared on the 8th while the probes passed."""
    for day in (DOWN, DEGRADED, PARTIAL, OK):
        insert_rollups(session, "orders", REGION, whole_day(day, 30 if day == DOWN else 0))
        insert_rollups(session, "carts", REGION, whole_day(day))
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
    assert {day: bar.worst for day, bar in orders.items()} == {
        DOWN: "major_outage", DEGRADED: "degraded_performance", PARTIAL: "partial_outage",
        OK: "operational", NO_DATA: "no_data", NOW.date(): "no_data"}
    assert [carts[day].worst for day in (PARTIAL, OK)] == ["operational", "partial_outage"]
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


@pytest.mark.e2e
def test_chromium_paints_each_days_state_in_its_own_colour(site: Flask) -> None:
    from playwright.sync_api import sync_playwright

    chromium_or_skip()
    web = Listener("bars-web", site)
    web.start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 1100, "height": 1400})
                page.goto(f"{web.url}/regions/{REGION}/", wait_until="networkidle")
                painted = dict(page.locator("#component-orders .bars > li").evaluate_all(
                    "days => days.map(d => [d.querySelector('span').textContent.slice(0, 10),"
                    " getComputedStyle(d).backgroundColor])"))
            finally:
                browser.close()
    finally:
        web.stop()
    seen = {day: painted[day.isoformat()] for day in PAINTED}
    assert seen == PAINTED
    assert len(set(seen.values())) == len(PAINTED)  # five states, five colours
