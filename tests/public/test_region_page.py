"""The region page's days and uptime say only what is known: the uptime counts from the first
day with data ("since …") until there are 90 of them, a finished day is recomputed when late
data changes its day summary, and today's bar shows an outage or a declared incident after
the very next publish."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from app import create_app
from core import migrate
from core.config import Settings
from core.db import session_scope
from core.runtime import Runtime
from core.scheduler import JobContext
from probes import store as probe_store
from probes.evaluate import Evaluation, State
from reports.counts import day_first_minute
from status.models import Incident, IncidentComponent
from status.page import ComponentView, DayBar, uptime_of
from status.site import Site, public_dir, sla_daily_bars
from status.site_jobs import publish_site
from tests.reports.builders import insert_rollups
from tests.support.clock import ManualClock
from tests.support.databases import create_database, drop_database

NOW = datetime(2026, 10, 10, 12, 0, tzinfo=UTC)
REGION = "europe-west1.gcp"
YESTERDAY = NOW.date() - timedelta(days=1)


def bars(first_with_data: int, down: dict[int, int] | None = None) -> tuple[DayBar, ...]:
    """90 days, the first `first_with_data` without a checked minute (all no data)."""
    first = NOW.date() - timedelta(days=89)
    return tuple(
        DayBar(first + timedelta(days=i), 1440,
               (down or {}).get(i, 0), 1440 if i < first_with_data else 0,
               "no_data" if i < first_with_data else "operational")
        for i in range(90))


def test_uptime_counts_from_the_first_day_with_data_never_over_empty_days() -> None:
    # An hour down on the only day with data: not "99.954 %" over 89 empty days.
    young = bars(89, {89: 60})
    assert uptime_of(young) == pytest.approx(100 * (1 - 60 / 1440))
    view = ComponentView("orders", REGION, 1, "major_outage", None, young, uptime_of(young))
    assert view.uptime_since == NOW.date()
    grown = bars(0, {89: 60})
    assert ComponentView("orders", REGION, 1, "operational", None, grown).uptime_since is None
    assert uptime_of(grown) == pytest.approx(100 * (1 - 60 / (90 * 1440)))
    assert uptime_of(bars(90)) is None


# --- against a database -----------------------------------------------------------------


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Flask]:
    """An app on a database of its own, its clock at NOW, its public dir in tmp_path."""
    url = create_database(tmp_path, "region")
    migrate.upgrade(url)
    settings = replace(Settings(), data_dir=tmp_path, database_url=url,
                       secret_key="region-secret")
    app = create_app(settings, clock=ManualClock(NOW))
    yield app
    app.extensions["bellwether"].engine.dispose()
    drop_database(url)


def runtime_of(app: Flask) -> Runtime:
    runtime: Runtime = app.extensions["bellwether"]
    return runtime


def minutes(day: date, first: int, count: int, verdict: str) -> list[tuple[int, str, int]]:
    start = day_first_minute(day) + first
    return [(start + m, verdict, 3) for m in range(count)]


def orders_words(html: str) -> tuple[list[tuple[str, str]], str]:
    """The orders line of a region page: its days (state, words) and its uptime words."""
    line = html.partition('id="component-orders"')[2].partition("</li>\n")[0]
    days = re.findall(r'class="worst-([a-z_]+)"><span>([^<]+)</span>', line)
    uptime = re.search(r'<span class="uptime">(.*?)</span>', line)
    assert uptime is not None
    return days, re.sub(r"<[^>]+>", "", uptime.group(1))


def test_the_region_page_says_since_when_its_uptime_counts(site: Flask) -> None:
    with session_scope(runtime_of(site).session_factory) as session:
        insert_rollups(session, "orders", REGION, minutes(YESTERDAY, 0, 1440, "up"))
        insert_rollups(session, "orders", REGION, minutes(NOW.date(), 0, 600, "up"))
        insert_rollups(session, "orders", REGION, minutes(NOW.date(), 600, 60, "down"))
    html = site.test_client().get(f"/regions/{REGION}/").get_data(as_text=True)
    days, uptime = orders_words(html)
    assert uptime == f"{100 * (1 - 60 / (1440 + 720)):.3f} % uptime since {YESTERDAY}"
    assert [state for state, _ in days[:88]] == ["no_data"] * 88
    assert days[-1][0] == "major_outage"
    components = site.test_client().get(
        f"/api/v2/components.json?region={REGION}").get_json()["components"]
    orders = next(c for c in components if c["name"] == f"orders ({REGION})")
    assert orders["uptime_90d_pct"] == pytest.approx(100 * (1 - 60 / 2160), abs=1e-4)


class CountingBars:
    """The SLA's bars, counting the days each call asks for."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, date, int]] = []

    def __call__(self, session: Session, component: str, region: str, first_day: date,
                 days: int, now: datetime) -> Sequence[DayBar]:
        self.asked.append((component, first_day, days))
        return sla_daily_bars(session, component, region, first_day, days, now)


def test_a_finished_day_is_recomputed_when_late_data_changes_its_summary(site: Flask) -> None:
    runtime = runtime_of(site)
    source = CountingBars()
    cached = Site(runtime.settings, source)
    first = NOW.date() - timedelta(days=89)

    def yesterday() -> DayBar:
        source.asked.clear()
        with session_scope(runtime.session_factory) as session:
            days = cached.daily_bars(session, "orders", REGION, first, 90, NOW)
        assert [bar.day for bar in days] == [first + timedelta(days=i) for i in range(90)]
        return days[-2]

    with session_scope(runtime.session_factory) as session:
        insert_rollups(session, "orders", REGION, minutes(YESTERDAY, 0, 720, "up"))
    assert (yesterday().worst, yesterday().down_minutes) == ("no_data", 0)
    assert source.asked == [("orders", NOW.date(), 1)]  # finished days come from the cache
    # An agent's spool arrives: the afternoon, an hour of it down, rolled up late.
    with session_scope(runtime.session_factory) as session:
        insert_rollups(session, "orders", REGION, minutes(YESTERDAY, 720, 60, "down"))
        insert_rollups(session, "orders", REGION, minutes(YESTERDAY, 780, 660, "up"))
    late = yesterday()
    assert (late.worst, late.down_minutes, late.no_data_minutes) == ("major_outage", 60, 0)
    assert source.asked == [("orders", YESTERDAY, 2)]  # that day, and today as always
    assert yesterday() == late
    assert source.asked == [("orders", NOW.date(), 1)]


def publish(app: Flask) -> str:
    """One pass of the publish job; the region page as it wrote it."""
    runtime = runtime_of(app)
    publish_site(JobContext(runtime.settings, runtime.clock, runtime.session_factory,
                            runtime.parts))
    return (public_dir(runtime.settings) / f"regions/{REGION}/index.html").read_text()


def today_of(html: str, component: str) -> str:
    line = html.partition(f'id="component-{component}"')[2].partition("</ol>")[0]
    states: list[str] = re.findall(r'class="worst-([a-z_]+)"><span>', line)
    return states[-1]


def test_todays_bar_shows_an_outage_and_a_declared_incident_after_one_publish(
        site: Flask) -> None:
    runtime = runtime_of(site)
    with session_scope(runtime.session_factory) as session:
        for component in ("orders", "carts"):
            insert_rollups(session, component, REGION, minutes(NOW.date(), 0, 720, "up"))
    html = publish(site)
    assert (today_of(html, "orders"), today_of(html, "carts")) == ("operational", "operational")
    # The probes see orders fail: the live state changes, its minutes are not rolled up yet.
    with session_scope(runtime.session_factory) as session:
        probe_store.record_state(session, "orders", REGION,
                                 Evaluation(State.MAJOR_OUTAGE, "3 of 3 locations"), NOW,
                                 probe_store.states(session).get(("orders", REGION)))
    assert today_of(publish(site), "orders") == "major_outage"
    # Support declares a partial outage of carts while its probes still pass.
    with session_scope(runtime.session_factory) as session:
        incident = Incident(title="Carts failing for some", impact="minor",
                            status="investigating", origin="declared",
                            opened_at=NOW - timedelta(minutes=1), updated_at=NOW)
        incident.components.append(IncidentComponent(
            component="carts", region=REGION, state="partial_outage",
            first_affected_at=NOW - timedelta(minutes=1)))
        session.add(incident)
    html = publish(site)
    assert (today_of(html, "orders"), today_of(html, "carts")) == (
        "major_outage", "partial_outage")
    assert runtime.clock.now() == NOW  # each within one publish: no refresh minute passed
