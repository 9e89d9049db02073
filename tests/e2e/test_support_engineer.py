"""The support engineer's day in headless Chromium (Debian's, driven by Playwright), through
the UI only: log in, start from the "Major outage" template, put one region at major outage
with a single component left out, preview the notice subscribers would get, declare and see
the incident's components; on the incident the update form's picker starts from them, an
update template and a tier choice fill it, its preview names what it will send, post it,
resolve; schedule a maintenance window a week and a day ahead, and one at short notice
(refused without a reason, then listed with it as counting toward the SLA). Any console
error or Content-Security-Policy violation on any page fails; screenshots of every page go
to test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask

from commerce.catalog import SERVICES
from core.auth import create_user
from core.db import session_scope
from core.models import Role
from core.servers import Listener
from status.incidents import TRANSACTION
from tests.support.browser import log_in, served_app, watched_page

pytestmark = pytest.mark.e2e
EMAIL, PASSWORD = "sam@example.test", "correct horse battery staple"
REGION = "europe-west1.gcp"
OTHER = "australia-southeast1.gcp"
PREVIEW = "section#notice-preview"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Listener]:
    with served_app(tmp_path, "support", seed) as web:
        yield web


def seed(app: Flask) -> None:
    runtime = app.extensions["bellwether"]
    with session_scope(runtime.session_factory) as session:
        create_user(session, email=EMAIL, role=Role.SUPPORT, now=runtime.clock.now(),
                    password=PASSWORD, name="Sam")


def test_a_support_engineers_day_declare_update_resolve_schedule(served: Listener) -> None:
    with watched_page("support") as watched:
        page = watched.page
        log_in(watched, served.url, EMAIL, PASSWORD, "/admin/incidents")
        # Compact: per region a whole-region and two tier selects shown, the single
        # components folded away.
        assert page.locator("main form.stack select:visible").count() == 2 + 3 * 3
        watched.seen("incidents")

        page.click("text=Major outage")
        page.wait_for_url("**/admin/incidents?template=major-outage*")
        assert page.input_value("#title") == "Major outage"
        assert page.input_value("#impact") == "critical"
        assert "highest priority" in page.input_value("#message")
        page.fill("#title", f"{REGION} is down")
        page.select_option(f'[name="region-{REGION}"]', "major_outage")
        page.click(f"summary:has-text('Single components in {REGION}')")
        page.select_option(f'[name="state-carts-{REGION}"]', "not_affected")
        watched.seen("declare")

        page.get_by_role("button", name="Preview the notice").click()
        page.wait_for_load_state("load")
        preview = page.locator(PREVIEW)
        assert "What subscribers will receive" in preview.inner_text()
        assert "Goes out at once when you declare" in preview.inner_text()
        assert page.locator(f"{PREVIEW} .preview-subject").inner_text() == (
            f"[investigating] {REGION} is down")
        text = page.locator(f"{PREVIEW} .preview-text").inner_text()
        assert f"orders ({REGION})" in text
        assert f"carts ({REGION})" not in text
        assert page.input_value("#title") == f"{REGION} is down"  # the input is kept
        assert page.input_value(f'[name="state-carts-{REGION}"]') == "not_affected"
        watched.seen("declare-preview")

        page.get_by_role("button", name="Declare").click()
        page.wait_for_url("**/admin/incidents/*")
        assert f"{REGION} is down" in page.inner_text("h1")
        rows = page.locator("section[aria-labelledby=components-h] tbody tr")
        shown = {tuple(rows.nth(i).locator("td").all_inner_texts()[:3])
                 for i in range(rows.count())}
        assert shown == {(c, REGION, "major outage") for c in (*SERVICES, TRANSACTION)
                         if c != "carts"}
        watched.seen("incident")

        # The update form's picker starts from the incident's components.
        assert page.input_value(f'[name="state-orders-{REGION}"]') == "major_outage"
        assert page.input_value(f'[name="state-carts-{REGION}"]') == ""
        page.get_by_role("link", name="Cause identified").click()
        page.wait_for_url("**template=identified*")
        assert page.input_value("#update-status") == "identified"
        assert "identified the cause" in page.input_value("#update-body")
        page.fill("#update-body", "A bad deploy of the region's router; rolling it back.")
        page.select_option(f'[name="tier2-{OTHER}"]', "degraded_performance")
        page.get_by_role("button", name="Preview the notice").click()
        page.wait_for_load_state("load")
        preview = page.locator(PREVIEW)
        assert "Goes out at once when you post it." in preview.inner_text()
        text = page.locator(f"{PREVIEW} .preview-text").inner_text()
        assert "rolling it back" in text
        assert f"audit-log ({OTHER})" in text
        assert page.input_value(f'[name="tier2-{OTHER}"]') == "degraded_performance"
        watched.seen("update-preview")
        page.get_by_role("button", name="Post update").click()
        page.wait_for_load_state("load")
        updates = page.locator("section[aria-labelledby=updates-h]").inner_text()
        assert "rolling it back" in updates
        assert "identified" in updates
        watched.seen("incident-updated")

        page.fill("#resolve-body", "The router is back; every order placed since went through.")
        page.get_by_role("button", name="Resolve").click()
        page.wait_for_load_state("load")
        assert "status resolved" in " ".join(page.inner_text("main").split())
        assert page.get_by_role("button", name="Resolve").count() == 0
        watched.seen("incident-resolved")

        page.get_by_role("navigation").get_by_role("link", name="Maintenance").click()
        page.wait_for_url("**/admin/maintenance")
        watched.seen("maintenance")
        start = (datetime.now(UTC) + timedelta(days=8)).replace(second=0, microsecond=0)
        page.fill("#title", "Orders database upgrade")
        page.fill("#starts_at", start.strftime("%Y-%m-%dT%H:%M"))
        page.fill("#ends_at", (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
        page.fill("#message", "Orders may be slow for a few minutes.")
        page.check('input[name="components"][value="orders"]')
        page.check(f'input[name="regions"][value="{REGION}"]')
        page.get_by_role("button", name="Schedule").click()
        page.wait_for_load_state("load")
        row = page.locator("main table tbody tr", has_text="Orders database upgrade")
        assert row.count() == 1
        assert start.strftime("%Y-%m-%d %H:%M") in row.inner_text()
        assert "excluded" in row.inner_text()
        watched.seen("maintenance-scheduled")

        soon = (datetime.now(UTC) + timedelta(hours=3)).replace(second=0, microsecond=0)
        page.fill("#title", "Certificate rotation")
        page.fill("#starts_at", soon.strftime("%Y-%m-%dT%H:%M"))
        page.fill("#ends_at", (soon + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"))
        page.get_by_role("button", name="Schedule").click()
        page.wait_for_load_state("load")
        refusal = page.locator("#maintenance-error").inner_text()
        assert "less than 7 days' notice: give the reason" in refusal
        # The refusal is answered 400 (as the API's), which Chromium logs; nothing else.
        watched.seen("maintenance-short-notice-refused",
                     expected=("the server responded with a status of 400",))
        page.fill("#short_notice_reason", "The vendor's certificate expires tonight.")
        page.get_by_role("button", name="Schedule").click()
        page.wait_for_load_state("load")
        row = page.locator("main table tbody tr", has_text="Certificate rotation")
        assert row.count() == 1
        assert "short notice: counts toward the SLA" in row.inner_text()
        assert "The vendor's certificate expires tonight." in row.inner_text()
        watched.seen("maintenance-short-notice")
