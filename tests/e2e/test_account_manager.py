"""The account manager's day in headless Chromium (Debian's, driven by Playwright), through
the UI only: log in and land on the customers page, create a customer through the form
(a refusal first, in the API's words), open this month's report and see both charts drawn
from static/report-charts.js, open the error budgets. Any console error or Content-Security-
Policy violation on any page fails the test; screenshots go to test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import insert

from commerce import store as commerce_store
from core.auth import create_user
from core.db import session_scope
from core.models import Role
from core.runtime import Runtime
from core.servers import Listener
from probes.models import ComponentMinute
from sla.period import minute_of
from tests.support.browser import ARTIFACTS, log_in, served_app, watched_page

pytestmark = pytest.mark.e2e
EMAIL, PASSWORD = "ada@example.test", "correct horse battery staple"
PROJECT = "ada-shop-eu"
SUBMIT = "main form.stack button[type=submit]"  # not the navigation's "Log out"
REGION = "europe-west1.gcp"
PROJECTS_FIELD = f'[name="projects-{REGION}"]'


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Listener]:
    with served_app(tmp_path, "manager", seed) as web:
        yield web


def seed(app: Flask) -> None:
    """What exists before the day: the manager's account, the shop's commerce project, and
    three hours of rollups with ten minutes down (as the probes would have written)."""
    runtime: Runtime = app.extensions["bellwether"]
    now = runtime.clock.now()
    last = minute_of(now) - 1
    with session_scope(runtime.session_factory) as session:
        create_user(session, email=EMAIL, role=Role.ACCOUNT_MANAGER, now=now,
                    password=PASSWORD, name="Ada")
        commerce_store.create_project(session, REGION, PROJECT, now)
        session.execute(insert(ComponentMinute), [
            {"component": "orders", "region": REGION, "minute": last - m, "checks": 6,
             "failures": 6 if m < 10 else 0, "degraded": 0, "locations": 3,
             "locations_down": 3 if m < 10 else 0, "latency_p50_ms": 40.0,
             "latency_p95_ms": 80.0, "latency_max_ms": 90.0,
             "verdict": "down" if m < 10 else "up"}
            for m in range(min(180, last - (last - last % 1440)))])


def test_an_account_managers_day_in_the_browser(served: Listener) -> None:
    with watched_page("manager") as watched:
        page = watched.page
        log_in(watched, served.url, EMAIL, PASSWORD, "/reports/customers")
        nav = page.locator("nav").inner_text()
        assert "Customers" in nav
        assert "Incidents" not in nav
        assert "Maintenance" not in nav
        watched.seen("customers-empty")

        page.click("#new-customer")
        page.wait_for_url("**/reports/customers/new")
        watched.seen("customer-form")
        page.fill("#name", "Ada's Shop")
        page.select_option("#plan", "premium")
        page.fill("#monthly_fee", "1,200.00")
        page.fill(PROJECTS_FIELD, "no-such-shop")
        page.click(SUBMIT)
        assert "no such commerce project: 'no-such-shop'" in page.inner_text("#form-error")
        assert page.input_value("#name") == "Ada's Shop"  # what was typed is kept
        # The refusal answers 400, which Chromium logs; that one line and nothing else.
        watched.seen("customer-refused", expected=[
            "Failed to load resource: the server responded with a status of 400 (BAD REQUEST)"])
        page.fill(PROJECTS_FIELD, PROJECT)
        page.click(SUBMIT)
        page.wait_for_url("**/reports/customers")
        assert "Saved customer Ada's Shop." in page.inner_text("main")
        assert "1,200.00 USD" in page.inner_text("table")
        watched.seen("customers")

        page.click("table a[href*='/reports/customers/']:not([href$='/edit'])"
                   ":not([href$='/delete'])")
        page.wait_for_selector("#chart-daily .main-svg", timeout=15_000)
        page.wait_for_selector("#chart-burn .main-svg", timeout=15_000)
        assert page.locator("#chart-daily .heatmaplayer").count() == 1
        lines = page.locator("section[aria-labelledby=lines-h] tbody tr").count()
        assert lines == 8  # the catalogue's services in the one region
        assert page.locator("#chart-burn .scatterlayer .trace").count() == lines
        assert "Month to date: uptime" in page.inner_text("#to-date")
        assert "elapsed minutes" in page.inner_text("#to-date")
        assert "Full-month projection" in page.inner_text("#projection")
        watched.seen("report")

        with page.expect_download() as download:
            page.get_by_role("link", name="PDF", exact=True).click()
        pdf = download.value
        assert pdf.suggested_filename.endswith(".pdf")
        saved = ARTIFACTS / "manager-report.pdf"
        pdf.save_as(saved)
        assert saved.read_bytes().startswith(b"%PDF-")
        assert "Ada's Shop" in pdf_text(saved)

        page.click("nav >> text=Error budgets")
        page.wait_for_url("**/reports/budgets")
        assert "Ada's Shop (premium)" in page.inner_text("main")
        watched.seen("budgets")


def pdf_text(path: Path) -> str:
    from pypdf import PdfReader

    return "".join(page.extract_text() for page in PdfReader(path).pages)
