"""The admin's day in headless Chromium (Debian's, driven by Playwright), through the UI
only: log in and land on the admin home, open every page the navigation offers (each one
offering the way back), and hand a new customer to an account manager. Any console error or
Content-Security-Policy violation on any page fails; screenshots go to test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from commerce import store as commerce_store
from core.auth import create_user
from core.db import session_scope
from core.models import Role
from core.servers import Listener
from tests.support.browser import log_in, served_app, watched_page

pytestmark = pytest.mark.e2e
EMAIL, PASSWORD = "root@example.test", "correct horse battery staple"
REGION = "europe-west1.gcp"
SUBMIT = "main form.stack button[type=submit]"  # not the header's "Log out"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Listener]:
    with served_app(tmp_path, "admin", seed) as web:
        yield web


def seed(app: Flask) -> None:
    """The admin, an account manager to hand a customer to, and the customer's project."""
    runtime = app.extensions["bellwether"]
    now = runtime.clock.now()
    with session_scope(runtime.session_factory) as session:
        create_user(session, email=EMAIL, role=Role.ADMIN, now=now, password=PASSWORD,
                    name="Root")
        create_user(session, email="ada@example.test", role=Role.ACCOUNT_MANAGER, now=now,
                    password=PASSWORD, name="Ada")
        commerce_store.create_project(session, REGION, "lovelace-eu", now)


def test_an_admins_day_in_the_browser(served: Listener) -> None:
    with watched_page("admin") as watched:
        page = watched.page
        log_in(watched, served.url, EMAIL, PASSWORD, "/admin")
        assert page.inner_text("h1") == "Admin"
        for section in ("backups", "agents", "probes", "deliveries"):
            assert page.locator(f"#summary-{section}").count() == 1
        watched.seen("home")

        nav = page.locator("header nav")
        labels = [label.strip() for label in nav.locator("a").all_inner_texts()]
        assert labels[0] == "Admin home"
        assert {"Backups", "Agents", "Probes", "Deliveries", "Incidents", "Maintenance",
                "Customers", "Error budgets"} <= set(labels)
        for label in labels[1:]:
            nav.get_by_role("link", name=label, exact=True).click()
            page.wait_for_load_state("load")
            assert page.locator("h1").count() == 1, label
            watched.seen(label.lower().replace(" ", "-"))
            if label == "Public status page":
                page.go_back()  # the public site has its own header
                continue
            current = nav.locator("a[aria-current=page]")
            assert current.inner_text().strip() == label
            assert nav.get_by_role("link", name="Admin home").count() == 1  # the way back

        nav.get_by_role("link", name="Customers", exact=True).click()
        page.wait_for_url("**/reports/customers")
        page.click("#new-customer")
        page.wait_for_url("**/reports/customers/new")
        page.fill("#name", "Lovelace Ltd")
        page.fill(f'[name="projects-{REGION}"]', "lovelace-eu")
        page.select_option("#account_manager_id", label="Ada <ada@example.test>")
        watched.seen("customer-form")
        page.click(SUBMIT)
        page.wait_for_url("**/reports/customers")
        row = page.locator("main table tbody tr", has_text="Lovelace Ltd")
        assert "Ada" in row.inner_text()
        watched.seen("customer-assigned")
