"""The support engineer declares a whole-region incident in headless Chromium (Debian's,
driven by Playwright), through the UI only: log in, start from the "Major outage" template,
put one region at major outage with a single component left out, declare, and see the
incident's components. Any console error or Content-Security-Policy violation fails."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask

from app import create_app
from commerce.catalog import SERVICES
from core import migrate
from core.auth import create_user
from core.config import Settings
from core.db import session_scope
from core.models import Role
from core.servers import Listener
from status.incidents import TRANSACTION
from tests.e2e.test_account_manager import no_violations, watch
from tests.e2e.test_browser import ARGS, ARTIFACTS, CHROMIUM, REGION, chromium_or_skip
from tests.support.databases import create_database, drop_database

pytestmark = pytest.mark.e2e
EMAIL, PASSWORD = "sam@example.test", "correct horse battery staple"
SUBMIT = "main form.stack button[type=submit]"  # not the navigation's "Log out"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Listener]:
    chromium_or_skip()
    url = create_database(tmp_path, "support")
    migrate.upgrade(url)
    web = Listener("support-web", None)
    settings = replace(Settings(), data_dir=tmp_path, database_url=url,
                       secret_key="support-secret", public_url=web.url)
    app: Flask = create_app(settings)
    web.app = app
    runtime = app.extensions["bellwether"]
    with session_scope(runtime.session_factory) as session:
        create_user(session, email=EMAIL, role=Role.SUPPORT, now=runtime.clock.now(),
                    password=PASSWORD, name="Sam")
    web.start()
    try:
        yield web
    finally:
        web.stop()
        runtime.engine.dispose()
        drop_database(url)


def test_a_support_engineer_declares_a_whole_region_incident_by_clicking(
        served: Listener) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1000})
            errors: list[str] = []
            watch(page, errors)
            page.goto(f"{served.url}/login")
            page.fill("#email", EMAIL)
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/admin/incidents")
            # Compact: one select per region shown, the single components folded away.
            assert page.locator("main form.stack select:visible").count() == 2 + 3
            no_violations(page, errors)

            page.click("text=Major outage")
            page.wait_for_url("**/admin/incidents?template=major-outage*")
            assert page.input_value("#title") == "Major outage"
            assert page.input_value("#impact") == "critical"
            assert "highest priority" in page.input_value("#message")
            page.fill("#title", f"{REGION} is down")
            page.select_option(f'[name="region-{REGION}"]', "major_outage")
            page.click(f"summary:has-text('Single components in {REGION}')")
            page.select_option(f'[name="state-carts-{REGION}"]', "not_affected")
            page.screenshot(path=str(ARTIFACTS / "support-declare.png"), full_page=True)
            no_violations(page, errors)

            page.click(SUBMIT)
            page.wait_for_url("**/admin/incidents/*")
            assert f"{REGION} is down" in page.inner_text("h1")
            rows = page.locator("section[aria-labelledby=components-h] tbody tr")
            shown = {tuple(rows.nth(i).locator("td").all_inner_texts()[:3])
                     for i in range(rows.count())}
            assert shown == {(c, REGION, "major outage") for c in (*SERVICES, TRANSACTION)
                             if c != "carts"}
            page.screenshot(path=str(ARTIFACTS / "support-incident.png"), full_page=True)
            no_violations(page, errors)
        finally:
            browser.close()
