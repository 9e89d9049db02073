"""The embed in an iframe and the badges in <img> on a page of another origin (another
loopback port), in Chromium: they load with no console error and no CSP violation, from
the app and from the static copy, while the status page itself still refuses the frame."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from flask import Flask

from core.db import session_scope
from core.servers import Listener
from status.page import STATE_WORDS
from status.site import Site
from tests.public.badge_site import NOW, REGION, STATES, make_site
from tests.public.test_bar_colours import ARGS, CHROMIUM, chromium_or_skip
from tests.support.waiting import wait_until

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment
    from playwright.sync_api import Page

#: Recorded in every frame before its own scripts (there are none): what the CSP refused.
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation',
    e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
"""
BADGES = (f"/regions/{REGION}/badge.svg", f"/regions/{REGION}/components/orders/badge.svg",
          f"/regions/{REGION}/components/orders/uptime-90d.svg")


def host_page(status: str) -> str:
    """A page of another site that embeds the status site's region and overall embeds and
    its badges, as the README tells people to."""
    images = "".join(f'<p><img class="badge" src="{status}{path}" alt="status"></p>'
                     for path in BADGES)
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>Shop</title>'
            f'<link rel="icon" href="data:,"></head><body><h1>Our shop</h1>'
            f'<iframe id="region" src="{status}/regions/{REGION}/embed" width="420" '
            f'height="260" title="Status"></iframe>'
            f'<iframe id="whole" src="{status}/embed" width="420" height="200" '
            f'title="Status"></iframe>{images}</body></html>')


def framing_page(status: str) -> str:
    """The negative control: a page trying to frame the status page itself."""
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>Framer</title>'
            f'<link rel="icon" href="data:,"></head><body>'
            f'<iframe id="page" src="{status}/regions/{REGION}/"></iframe></body></html>')


class OtherSite:
    """The embedding site: serves `host_page` at / and `framing_page` at /framing."""

    def __init__(self, status: str) -> None:
        self.status = status

    def __call__(self, environ: WSGIEnvironment, start: StartResponse) -> list[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path not in ("/", "/framing"):
            start("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not here"]
        body = (host_page if path == "/" else framing_page)(self.status).encode()
        start("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                         ("Content-Length", str(len(body)))])
        return [body]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Flask]:
    yield from make_site(tmp_path)


@pytest.fixture
def servers(site: Flask) -> Iterator[tuple[Listener, Listener]]:
    status = Listener("badges-status", site, threads=4)
    status.start()
    other = Listener("badges-other", OtherSite(status.url), threads=2)
    other.start()
    assert other.port != status.port
    yield status, other
    other.stop()
    status.stop()


def watch_console(page: Page) -> list[str]:
    """Every console error and uncaught exception of the page and its frames."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    return errors


def check_host_page(page: Page, url: str) -> dict[str, Any]:
    """Load the embedding page; what the frames and images show."""
    errors = watch_console(page)
    answers: dict[str, dict[str, str]] = {}
    page.on("response", lambda r: answers.update({r.url: r.headers}))
    page.goto(url, wait_until="load")
    region = page.frame_locator("#region")
    heading = region.locator("h1").inner_text()
    rows = region.locator("ul.rows li").all_inner_texts()
    whole = page.frame_locator("#whole").locator("ul.rows li").all_inner_texts()
    widths = wait_until(lambda: page.locator("img.badge").evaluate_all(
        "imgs => imgs.every(i => i.complete) && imgs.map(i => [i.naturalWidth, i.src])"),
        message="the badges to load")
    violations = [frame.evaluate("window.__violations") for frame in page.frames]
    origins = [frame.evaluate("location.origin") for frame in page.frames]
    return {"heading": heading, "rows": rows, "whole": whole, "widths": widths,
            "violations": violations, "origins": origins, "errors": errors,
            "answers": answers}


def assert_embedded(seen: dict[str, Any], status: Listener, other: Listener,
                    declared_widths: dict[str, int]) -> None:
    assert seen["heading"] == f"{REGION}: Partial System Outage"
    rows = {" ".join(r.split()) for r in seen["rows"]}
    assert {f"{c} {STATE_WORDS[s]}" for c, s in STATES.items()} <= rows
    assert [" ".join(r.split()) for r in seen["whole"]] == [
        f"{REGION} Major outage", "us-central1.gcp Operational",
        "australia-southeast1.gcp Operational"]
    for width, src in seen["widths"]:
        assert width > 0, src
        assert width == declared_widths[src.removeprefix(status.url)], src
    assert sorted(seen["origins"]) == sorted([other.url, status.url, status.url])
    assert seen["violations"] == [[], [], []]
    assert seen["errors"] == []
    fetched = {url.removeprefix(status.url): headers
               for url, headers in seen["answers"].items() if url.startswith(status.url)}
    assert set(fetched) == {*BADGES, f"/regions/{REGION}/embed", "/embed"}
    for path, headers in fetched.items():
        framed = path.endswith("/embed")
        assert ("x-frame-options" in headers) is not framed, path
        assert ("frame-ancestors *" in headers["content-security-policy"]) is framed, path


def from_the_copy(seen: dict[str, Any], status: Listener) -> set[bool]:
    """Whether each status answer came from the static copy (only it sends Last-Modified)."""
    return {"last-modified" in headers for url, headers in seen["answers"].items()
            if url.startswith(status.url)}


@pytest.mark.e2e
def test_the_embed_and_badges_load_on_another_sites_page(
        site: Flask, servers: tuple[Listener, Listener], tmp_path: Path) -> None:
    from xml.etree import ElementTree

    from playwright.sync_api import sync_playwright

    chromium_or_skip()
    status, other = servers
    client = site.test_client()
    declared = {path: int(ElementTree.fromstring(client.get(path).get_data())
                          .attrib["width"]) for path in BADGES}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            contexts = [browser.new_context() for _ in range(3)]  # a cache each
            for context in contexts:
                context.add_init_script(WATCH_VIOLATIONS)
            rendered = check_host_page(contexts[0].new_page(), f"{other.url}/")
            runtime = site.extensions["bellwether"]
            with session_scope(runtime.session_factory) as session:
                Site(runtime.settings).publish(session, NOW, tmp_path / "public")
            runtime.parts["public_dir"] = tmp_path / "public"
            copied = check_host_page(contexts[1].new_page(), f"{other.url}/")
            refused = contexts[2].new_page()
            refusals = watch_console(refused)
            refused.goto(f"{other.url}/framing", wait_until="load")
            wait_until(lambda: refusals, message="Chromium to refuse the frame")
            framed_text = refused.frame_locator("#page").locator("body").inner_text()
        finally:
            browser.close()
    assert_embedded(rendered, status, other, declared)
    assert_embedded(copied, status, other, declared)
    assert (from_the_copy(rendered, status), from_the_copy(copied, status)) == ({False}, {True})
    assert any("frame-ancestors 'none'" in e for e in refusals), refusals
    assert "Partial System Outage" not in framed_text
