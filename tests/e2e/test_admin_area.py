"""The admin area and the error pages in headless Chromium (Debian's, driven by Playwright):
an admin logs in, lands on the admin home and walks backups, agents, probes and deliveries
through the header's navigation, seeing a late and failing backup, a silent agent, a failing
probe and a certificate's days left; an account manager opens an admin page and a page that
does not exist and gets pages that say so, with a way home. Any console error or
Content-Security-Policy violation fails; screenshots go to test-artifacts/admin-area-*.png."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from core.auth import create_user
from core.backup import record_failure, take_backup
from core.db import session_scope
from core.models import Role
from core.servers import Listener
from probes import store as probe_store
from probes.checks import CheckResult
from probes.heartbeats import Heartbeat
from probes.specs import ProbeKind, ProbeSpec
from tests.support.browser import WatchedPage, served_app, watched_page

pytestmark = pytest.mark.e2e
ADMIN, MANAGER = "root@example.test", "ada@example.test"
PASSWORD = "correct horse battery staple"
REGION = "europe-west1.gcp"
#: What Chromium logs for a page answered with an error status: expected (and required)
#: on the 403 and 404 pages, nowhere else.
LOAD_FAILED = "Failed to load resource: the server responded with a status of {}"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Listener]:
    with served_app(tmp_path, "admin-area", lambda app: seed(app, tmp_path)) as web:
        yield web


def seed(app: Flask, tmp_path: Path) -> None:
    """Two users, and what an admin should notice: a backup 3 hours old whose successor
    failed its integrity check, a silent agent, a failing probe, a certificate 5 days out."""
    runtime = app.extensions["bellwether"]
    now = runtime.clock.now()
    source = tmp_path / "source.sqlite"
    sqlite3.connect(source).execute("create table t (x)").connection.close()
    backups = runtime.settings.data_dir / "backups"
    take_backup(f"sqlite:///{source}", backups, now - timedelta(hours=3))
    record_failure(backups, now - timedelta(minutes=2),
                   "the copy of bellwether.sqlite failed its integrity check: "
                   "row 2001 missing from index ix_checks_started_at")
    tls = ProbeSpec(name="orders-cert", component="orders", region=REGION,
                    kind=ProbeKind.TLS, target="orders.example.test:443")
    tcp = ProbeSpec(name="search-port", component="search", region=REGION,
                    kind=ProbeKind.TCP, target="search.example.test:443")
    at = now - timedelta(seconds=40)
    with session_scope(runtime.session_factory) as session:
        for email, role, name in ((ADMIN, Role.ADMIN, "Root"),
                                  (MANAGER, Role.ACCOUNT_MANAGER, "Ada")):
            create_user(session, email=email, role=role, now=now, password=PASSWORD, name=name)
        probe_store.record_heartbeat(session, Heartbeat("agent-loc-b", "loc-b", "1.4.2"),
                                     "10.0.0.7", now - timedelta(minutes=10))
        for spec in (tls, tcp):
            probe_store.save_probe(session, spec, now)
        probe_store.save_checks(session, [
            CheckResult(probe=tls.name, component="orders", region=REGION, location="loc-a",
                        intended_at=at, started_at=at, ok=True, latency_ms=31.0,
                        figures={"tls_days_left": 5.2}),
            CheckResult(probe=tcp.name, component="search", region=REGION, location="loc-a",
                        intended_at=at, started_at=at, ok=False, latency_ms=3.0,
                        error="connection refused")], now)


def log_in(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")


def test_an_admin_walks_the_admin_area(served: Listener) -> None:
    with watched_page("admin-area") as watched:
        walk_the_admin_area(watched, served.url)


def walk_the_admin_area(watched: WatchedPage, base: str) -> None:
    page = watched.page
    log_in(page, base, ADMIN)
    page.wait_for_url(f"{base}/admin")
    assert page.inner_text("h1") == "Admin"
    assert "late" in page.inner_text("#summary-backups")
    assert "Failing" in page.inner_text("#summary-backups")
    assert "1 silent" in page.inner_text("#summary-agents")
    assert "1 failing" in page.inner_text("#summary-probes")
    watched.seen("home")
    nav = page.locator("header nav")
    expectations = {
        "Backups": ("The last backup failed", "missing from index ix_checks_started_at"),
        "Agents": ("agent-loc-b", "silent"),
        "Probes": ("connection refused", "5.2"),
        "Deliveries": ("Subscribers whose deliveries fail", "Notices that could not be"),
    }
    for label, phrases in expectations.items():
        nav.get_by_role("link", name=label, exact=True).click()
        page.wait_for_load_state("load")
        assert page.inner_text("h1") == label
        main = page.inner_text("main")
        for phrase in phrases:
            assert phrase in main, (label, phrase)
        assert nav.locator("a[aria-current=page]").inner_text() == label
        watched.seen(label.lower())
    nav.get_by_role("link", name="Admin home", exact=True).click()  # the way back
    page.wait_for_url(f"{base}/admin")
    watched.seen("home-again")


def test_an_account_manager_is_refused_in_words_with_a_way_home(served: Listener) -> None:
    with watched_page("admin-area-refused") as watched:
        be_refused(watched, served.url)


def be_refused(watched: WatchedPage, base: str) -> None:
    page = watched.page
    log_in(page, base, MANAGER)
    page.wait_for_url(f"{base}/reports/customers")
    labels = [t.strip() for t in page.locator("header nav a").all_inner_texts()]
    assert labels == ["Customers", "Error budgets", "Public status page"]
    watched.seen("manager-home")

    refused = page.goto(f"{base}/admin/backups")
    assert refused is not None
    assert refused.status == 403
    assert page.inner_text("h1") == "Not for your role"
    assert f"You are logged in as {MANAGER} (account manager)" in page.inner_text("main")
    assert "{" not in page.inner_text("body")  # words, not a JSON problem
    watched.seen("forbidden", expected=(LOAD_FAILED.format(403),))
    page.get_by_role("link", name="Back to your home page").click()
    page.wait_for_url(f"{base}/reports/customers")
    watched.seen("back-home")

    missing = page.goto(f"{base}/admin/no-such-page")
    assert missing is not None
    assert missing.status == 404
    assert page.inner_text("h1") == "Page not found"
    watched.seen("not-found", expected=(LOAD_FAILED.format(404),))
