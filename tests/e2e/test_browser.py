"""The public site in headless Chromium (Debian's, driven by Playwright): states, a drawn
chart, a day's words on hover and focus, the published gzip copy, and the customer's day
through the UI only: subscribe from the status page, confirm with the link in the email the
SMTP server received, change regions and components, unsubscribe."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import insert, select

from alerts.jobs import dispatch_once
from app import create_app
from core import migrate
from core.config import Settings
from core.db import session_scope
from core.runtime import Runtime
from core.scheduler import JobContext
from core.servers import Listener
from probes.models import ComponentState, LocationMinute
from status.models import Subscriber
from status.site import Site
from tests.support.browser import ARTIFACTS, chromium_or_skip, watched_page
from tests.support.databases import create_database, drop_database
from tests.support.smtp import SmtpServer, running_smtp

pytestmark = pytest.mark.e2e
REGION = "europe-west1.gcp"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Listener, Flask, SmtpServer]]:
    chromium_or_skip()
    url = create_database(tmp_path, "browser")
    migrate.upgrade(url)
    with running_smtp() as smtp:
        web = Listener("browser-web", None)
        settings = replace(Settings(), data_dir=tmp_path, database_url=url,
                           secret_key="browser-secret", smtp_url=smtp.url,
                           public_url=web.url)
        app = create_app(settings)
        web.app = app
        seed(app.extensions["bellwether"])
        web.start()
        try:
            yield web, app, smtp
        finally:
            web.stop()
            app.extensions["bellwether"].engine.dispose()
            drop_database(url)


def seed(runtime: Runtime) -> None:
    now = runtime.clock.now()
    first = int(now.timestamp()) // 60 - 180
    with session_scope(runtime.session_factory) as session:
        session.add(ComponentState(component="carts", region=REGION, state="major_outage",
                                   since=now - timedelta(minutes=3), reason="3 of 3",
                                   evaluated_at=now))
        session.execute(insert(LocationMinute), [
            {"component": "orders", "region": REGION, "location": location,
             "minute": first + m, "checks": 2, "failures": 0, "degraded": 0,
             "latency_p50_ms": 40.0 + m % 7, "latency_p95_ms": 90.0 + m % 11,
             "latency_max_ms": 120.0, "status": "up"}
            for location in ("loc-a", "loc-b") for m in range(180)])


def test_the_region_page_shows_states_and_draws_a_chart(
        served: tuple[Listener, Flask, SmtpServer]) -> None:
    web, _, _ = served
    with watched_page("public", viewport=(1100, 1400)) as watched:
        page = watched.page
        failed: list[str] = []
        page.on("requestfailed", lambda request: failed.append(request.url))
        watched.open(f"{web.url}/", "overview", wait_until="networkidle")
        # Statuspage's rule: one component of many down is a partial system outage.
        assert "Partial System Outage" in page.inner_text("h1")
        page.goto(f"{web.url}/regions/{REGION}/", wait_until="networkidle")
        carts = page.locator("#component-carts")
        assert "Major outage" in carts.inner_text()
        assert_the_fetched_latency_is_drawn(page)
        watched.seen("region")
        assert_day_words_show_on_hover_and_focus(page)
        assert failed == []


def fetched(page: Any) -> list[str]:
    names: list[str] = page.evaluate(
        "performance.getEntriesByType('resource').map(e => e.name)")
    return names


def assert_the_fetched_latency_is_drawn(page: Any) -> None:
    """The chart is one click away: closed, nothing of it is loaded (plotly.js is 4.8 MB);
    opened, it is drawn from latency.json, fetched then: a p50 and a p95 line for each of
    the two seeded locations, named in the legend."""
    chart = '[data-figure="latency-orders"]'
    assert not page.locator(chart).is_visible()
    assert not any(url.endswith(("/plotly.min.js", "/latency.json")) for url in fetched(page))
    page.locator("#component-orders details.latency > summary").click()
    # plotly.js (4.8 MB) is fetched and parsed only now: slow on a loaded machine.
    page.wait_for_function("() => window.Plotly || document.querySelector("
                           "'#component-orders .chart-note').textContent.includes('could not')",
                           timeout=90_000)
    note = page.locator("#component-orders .chart-note").inner_text()
    assert "could not" not in note, note
    page.wait_for_selector(f"{chart} .scatterlayer .trace", timeout=30_000)
    assert page.locator(f"{chart} .scatterlayer .trace").count() == 4
    legend = page.locator(f"{chart} .legendtext").all_text_contents()
    assert sorted(legend) == ["loc-a p50", "loc-a p95", "loc-b p50", "loc-b p95"]
    assert any(url.endswith(f"/regions/{REGION}/latency.json") for url in fetched(page))
    assert not page.locator("#component-orders .chart-note").is_visible()
    assert page.locator('script[type="application/json"]').count() == 0  # nothing inline


def assert_day_words_show_on_hover_and_focus(page: Any) -> None:
    """A day's words are one hidden span per bar, shown as a tooltip on hover and focus."""
    bars = page.locator("#component-orders .bars > li")
    assert bars.count() == 90
    first, last = bars.nth(0), bars.nth(89)
    words = first.locator("span")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}: (no data|[0-9.]+ % uptime).*", words.inner_text())
    assert words.bounding_box()["width"] <= 1  # hidden, but in the accessibility tree
    first.hover()
    shown = words.bounding_box()
    assert shown["width"] > 100
    assert shown["y"] > first.bounding_box()["y"]  # below the bar, over nothing it hides
    last.focus()
    tip, bar = last.locator("span").bounding_box(), last.bounding_box()
    assert tip["width"] > 100
    assert tip["x"] + tip["width"] <= bar["x"] + bar["width"] + 1  # anchored inward
    page.screenshot(path=str(ARTIFACTS / "region-day-focused.png"))
    # The keyboard walks the days from today's bar, the one tab stop of the list.
    assert bars.evaluate_all("days => days.map(d => d.tabIndex).filter(t => t === 0).length") == 1
    page.mouse.move(0, 0)  # the first bar's words must show for focus, not for the hover
    page.keyboard.press("Home")
    assert first.evaluate("day => day === document.activeElement")
    assert words.bounding_box()["width"] > 100
    page.keyboard.press("ArrowRight")
    assert bars.nth(1).evaluate("day => day === document.activeElement")
    assert bars.evaluate_all("days => days.map(d => d.tabIndex)")[:3] == [-1, 0, -1]


def test_the_published_copy_reaches_the_browser_gzipped_and_draws_the_same(
        served: tuple[Listener, Flask, SmtpServer], tmp_path: Path) -> None:
    web, app, _ = served
    runtime: Runtime = app.extensions["bellwether"]
    out = tmp_path / "public"
    with session_scope(runtime.session_factory) as session:
        Site(runtime.settings).publish(session, runtime.clock.now(), out)
    runtime.parts["public_dir"] = out
    with watched_page("published", viewport=(1100, 1400)) as watched:
        page = watched.page
        answer = page.goto(f"{web.url}/regions/{REGION}/", wait_until="networkidle")
        assert answer is not None
        headers = answer.all_headers()
        assert headers["content-encoding"] == "gzip"
        assert "last-modified" in headers  # from the published copy, not the view
        assert "Major outage" in page.locator("#component-carts").inner_text()
        assert_the_fetched_latency_is_drawn(page)
        watched.seen("region")


def test_a_customers_day_subscribe_confirm_manage_unsubscribe(
        served: tuple[Listener, Flask, SmtpServer]) -> None:
    """From the status page to the inbox and back, every page watched and screenshotted;
    the only thing done outside the browser is the worker's delivery of the email."""
    web, app, smtp = served
    runtime: Runtime = app.extensions["bellwether"]
    with watched_page("customer") as watched:
        page = watched.page
        watched.open(f"{web.url}/", "overview")
        page.get_by_role("link", name="Subscribe").first.click()
        page.wait_for_url("**/subscribe")
        watched.seen("subscribe")
        page.get_by_label("Email address, webhook URL or channel URL").fill(
            "grace@example.test")
        page.check(f'input[name="regions"][value="{REGION}"]')
        page.check('input[name="components"][value="orders"]')
        page.get_by_role("button", name="Subscribe").click()
        assert "Check your inbox" in page.inner_text("h1")
        watched.seen("check-your-inbox")

        dispatch_once(JobContext(runtime.settings, runtime.clock, runtime.session_factory,
                                 runtime.parts))  # the worker's delivery
        assert [m.rcpt_tos for m in smtp.mails] == [("grace@example.test",)]
        text = smtp.mails[0].message.get_body(("plain",))
        assert text is not None
        link = re.search(r"(http://\S+/subscribe/confirm/\S+)", str(text.get_content()))
        assert link
        watched.open(link.group(1), "confirmed")
        assert "Subscription confirmed" in page.inner_text("h1")
        assert "orders" in page.inner_text("main")

        page.get_by_role("link", name=re.compile("Change what you receive")).click()
        page.wait_for_url("**/subscribe/manage/*")
        watched.seen("manage")
        page.check('input[name="regions"][value="us-central1.gcp"]')
        page.uncheck('input[name="components"][value="orders"]')
        page.check('input[name="components"][value="search"]')
        page.check('input[name="components"][value="carts"]')
        page.get_by_role("button", name="Save").click()
        assert "Saved" in page.inner_text("main")
        watched.seen("manage-saved")
        assert scopes_of(runtime, "grace@example.test") == {
            (region, component) for region in (REGION, "us-central1.gcp")
            for component in ("carts", "search")}

        page.get_by_role("link", name="Unsubscribe").click()
        page.wait_for_url("**/subscribe/unsubscribe/*")
        watched.seen("unsubscribe")
        page.get_by_role("button", name=re.compile("Stop all status notices")).click()
        assert "Unsubscribed" in page.inner_text("h1")
        watched.seen("unsubscribed")
    with session_scope(runtime.session_factory) as session:
        grace = session.scalars(select(Subscriber)).one()
        assert grace.confirmed_at is not None
        assert grace.unsubscribed_at is not None


def scopes_of(runtime: Runtime, address: str) -> set[tuple[str, str]]:
    with session_scope(runtime.session_factory) as session:
        subscriber = session.scalars(select(Subscriber).where(
            Subscriber.address == address)).one()
        return {(scope.region, scope.component) for scope in subscriber.scopes}
