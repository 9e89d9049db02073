"""Headless Chromium (Debian's, driven by Playwright) for the browser tests: one way to open
a page, watch it for console errors, uncaught exceptions and Content-Security-Policy
violations, and keep a screenshot of it under test-artifacts/.

A violation is reported to Python the moment the page sees it (an exposed binding, not a
list kept in the page), so one on a page the journey has already left still fails the test.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app import create_app
from core import migrate
from core.config import Settings
from core.servers import Listener
from tests.support.databases import create_database, drop_database

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
#: Runs in every document before its own scripts: CSP violations go to Python at once.
CSP_PROBE = """
document.addEventListener("securitypolicyviolation", function (e) {
  window.__bellwetherCsp(e.violatedDirective + " blocked " + (e.blockedURI || "inline"));
});
"""


def required_or_skip(present: bool, what: str, how: str) -> None:
    """A tool the test needs: under CI=true its absence fails the run, elsewhere it skips
    with a message saying how to get it."""
    if present:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required under CI=true ({how})")
    pytest.skip(f"{what} is not installed ({how})")


def chromium_or_skip() -> None:
    required_or_skip(shutil.which(CHROMIUM) is not None, "Chromium (Debian package chromium)",
                     "apt-get install chromium, or run ./dev test")


class WatchedPage:
    """A Playwright page whose problems are collected on every document it loads; `seen`
    screenshots the page and fails on anything collected since the last look."""

    def __init__(self, page: Any, journey: str) -> None:
        self.page = page
        self.journey = journey
        self.problems: list[str] = []
        self.screenshots: list[Path] = []
        page.expose_binding("__bellwetherCsp", lambda source, text: self.problems.append(
            f"CSP violation ({text}) on {source['frame'].url}"))
        page.add_init_script(CSP_PROBE)
        page.on("console", lambda msg: self.problems.append(
            f"console error on {page.url}: {msg.text}") if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.problems.append(
            f"uncaught exception on {page.url}: {exc}"))

    def open(self, url: str, name: str, wait_until: str = "load") -> Any:
        """Go to `url`, then as `seen`; returns Playwright's response."""
        response = self.page.goto(url, wait_until=wait_until)
        self.seen(name)
        return response

    def seen(self, name: str, expected: Sequence[str] = ()) -> None:
        """Screenshot this page as `<journey>-<nn>-<name>.png` and fail on any console
        error or CSP violation since the last look, but those named in `expected` (as
        substrings, each of which must have occurred)."""
        self.page.wait_for_load_state("load")
        path = ARTIFACTS / f"{self.journey}-{len(self.screenshots) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.screenshots.append(path)
        problems, self.problems = self.problems, []
        unexpected = [p for p in problems if not any(e in p for e in expected)]
        missing = [e for e in expected if not any(e in p for p in problems)]
        assert unexpected == [], f"{name} ({self.page.url}): {unexpected}"
        assert missing == [], f"{name} ({self.page.url}): expected but not seen: {missing}"


@contextmanager
def watched_page(journey: str, viewport: tuple[int, int] = (1200, 1000)) -> Iterator[WatchedPage]:
    """A fresh headless Chromium with one watched page; on the way out, anything reported
    after the last `seen` fails the test too."""
    from playwright.sync_api import sync_playwright

    chromium_or_skip()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            context = browser.new_context(
                viewport={"width": viewport[0], "height": viewport[1]}, accept_downloads=True)
            watched = WatchedPage(context.new_page(), journey)
            yield watched
            assert watched.problems == [], f"{journey}, after the last page: {watched.problems}"
        finally:
            browser.close()


@contextmanager
def served_app(tmp_path: Path, name: str, seed: Callable[[Flask], None]) -> Iterator[Listener]:
    """The web app on a database of its own, seeded by `seed` before it listens on loopback:
    what every journey starts from (Chromium missing skips, or fails under CI=true)."""
    chromium_or_skip()
    url = create_database(tmp_path, name)
    migrate.upgrade(url)
    web = Listener(f"{name}-web", None)
    settings = replace(Settings(), data_dir=tmp_path, database_url=url,
                       secret_key=f"{name}-secret", public_url=web.url)
    app = create_app(settings)
    web.app = app
    seed(app)
    web.start()
    try:
        yield web
    finally:
        web.stop()
        app.extensions["bellwether"].engine.dispose()
        drop_database(url)


def log_in(watched: WatchedPage, base_url: str, email: str, password: str, home: str) -> None:
    """Through the login form, as a person does; lands on the role's `home` path."""
    page = watched.page
    watched.open(f"{base_url}/login", "login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{home}")
