"""Status and uptime badges and the embed: valid SVG in each state's colour, the page's own
uptime figures, the same bytes and headers from Flask and from the static copy, and the
embed the only page other sites may frame."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from xml.etree import ElementTree

import pytest
from flask import Flask

from core.db import session_scope
from core.headers import CSP, FRAMEABLE_CSP, security_headers
from status.badges import (
    STATE_COLOURS,
    Badge,
    component_badge,
    region_badge,
    render_svg,
    state_badge,
    text_width,
    uptime_badge,
)
from status.embed import is_embed_file
from status.page import ComponentView, DayBar, RegionView, uptime_of
from status.site import Site
from status.static_site import published_file
from tests.public.badge_site import NOW, REGION, STATES, make_site

SVG = "{http://www.w3.org/2000/svg}"
WORDS = {"operational": "operational", "degraded_performance": "degraded performance",
         "partial_outage": "partial outage", "major_outage": "major outage",
         "under_maintenance": "under maintenance", "no_data": "data delayed"}
COLOURS = {"operational": "#44cc11", "degraded_performance": "#dfb317",
           "partial_outage": "#fe7d37", "major_outage": "#e05d44",
           "under_maintenance": "#007ec6", "no_data": "#9f9f9f"}


def parsed(svg: str | bytes) -> tuple[int, str, str, str]:
    """(width, label, message, message colour) of a badge, read as XML."""
    root = ElementTree.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    rects = root.findall(f"{SVG}g/{SVG}rect")
    label_rect, message_rect = rects[0], rects[1]
    width = int(root.attrib["width"])
    assert int(label_rect.attrib["width"]) + int(message_rect.attrib["width"]) == width
    texts = [t.text or "" for t in root.iter(f"{SVG}text") if "aria-hidden" not in t.attrib]
    title = root.find(f"{SVG}title")
    assert title is not None
    assert title.text == f"{texts[0]}: {texts[1]}" == root.attrib["aria-label"]
    return width, texts[0], texts[1], message_rect.attrib["fill"]


@pytest.mark.parametrize("state", list(WORDS))
def test_a_status_badge_is_valid_svg_in_its_states_colour(state: str) -> None:
    width, label, message, colour = parsed(render_svg(state_badge("orders (eu)", state)))
    assert (label, message, colour) == ("orders (eu)", WORDS[state], COLOURS[state])
    assert width == round(text_width("orders (eu)") + 10) + round(text_width(message) + 10)


def test_every_state_has_a_colour_of_its_own() -> None:
    assert set(STATE_COLOURS) >= set(WORDS)
    assert len({STATE_COLOURS[s] for s in WORDS}) == len(WORDS)


def test_a_region_badge_says_monitoring_in_blue_while_a_recovery_is_watched() -> None:
    orders = ComponentView("orders", REGION, 1, "operational", None)
    watched = RegionView(REGION, "operational", ((1, (orders,)),), monitoring=True)
    assert parsed(render_svg(region_badge(watched)))[1:] == (REGION, "monitoring", "#007ec6")
    calm = RegionView(REGION, "operational", ((1, (orders,)),))
    assert parsed(render_svg(region_badge(calm)))[1:] == (REGION, "operational", "#44cc11")
    assert parsed(render_svg(component_badge(orders)))[1] == f"orders ({REGION})"


def test_text_is_escaped_and_widths_follow_the_text() -> None:
    hostile = "<script>alert('x')</script> & \"q\""
    svg = render_svg(Badge(hostile, "ok", "#44cc11"))
    assert "<script>" not in svg
    _, label, message, _ = parsed(svg)
    assert (label, message) == (hostile, "ok")
    narrow, _, _, _ = parsed(render_svg(Badge("iii", "ok", "#44cc11")))
    wide, _, _, _ = parsed(render_svg(Badge("WWW", "ok", "#44cc11")))
    assert wide > narrow + 20  # Verdana's W is almost four times an i
    assert 60 < text_width("operational") < 75  # shields draws it 69 px wide
    assert text_width("数据") > 0  # outside ASCII: a guess, never an error


def bars(downs: dict[int, int]) -> tuple[DayBar, ...]:
    """90 days of bars, day i (0 = the oldest) down for downs[i] minutes."""
    first = date(2026, 7, 13)
    return tuple(DayBar(first + timedelta(days=i), 1440, downs.get(i, 0), 0,
                        "major_outage" if downs.get(i) else "operational") for i in range(90))


def test_an_uptime_badge_shows_the_pages_figure_for_90_days_and_the_last_30() -> None:
    days = bars({10: 720, 80: 60})
    view = ComponentView("orders", REGION, 1, "operational", None, days, uptime_of(days))
    _, label, ninety, colour = parsed(render_svg(uptime_badge(view, 90)))
    assert label == f"orders ({REGION}) 90-day uptime"
    assert view.uptime_pct is not None
    assert ninety == f"{view.uptime_pct:.3f}%" == "99.398%"
    assert colour == "#97ca00"
    _, _, thirty, colour = parsed(render_svg(uptime_badge(view, 30)))
    assert thirty == f"{uptime_of(days[-30:]):.3f}%" == "99.861%"
    clean = bars({})
    _, _, perfect, colour = parsed(render_svg(uptime_badge(
        ComponentView("orders", REGION, 1, "operational", None, clean), 30)))
    assert (perfect, colour) == ("100.000%", "#44cc11")
    bad = bars({i: 1440 for i in range(60, 90)})
    assert parsed(render_svg(uptime_badge(
        ComponentView("orders", REGION, 1, "operational", None, bad), 30)))[2:] == (
        "0.000%", "#e05d44")
    nothing = tuple(DayBar(b.day, 0, 0, 0, "no_data") for b in clean)
    assert parsed(render_svg(uptime_badge(
        ComponentView("orders", REGION, 1, "operational", None, nothing), 90)))[2:] == (
        "no data yet", "#9f9f9f")


# --- served by the app and from the static copy ----------------------------------------------

BADGE = f"/regions/{REGION}/badge.svg"
EMBED = f"/regions/{REGION}/embed"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Flask]:
    yield from make_site(tmp_path)


def publish(app: Flask, out: Path) -> Path:
    runtime = app.extensions["bellwether"]
    with session_scope(runtime.session_factory) as session:
        Site(runtime.settings).publish(session, NOW, out)
    runtime.parts["public_dir"] = out
    return out


def component_urls() -> list[str]:
    return [f"/regions/{REGION}/components/{c}/{f}" for c in STATES
            for f in ("badge.svg", "uptime-30d.svg", "uptime-90d.svg")]


def test_the_app_serves_each_components_badge_in_its_state(site: Flask) -> None:
    client = site.test_client()
    for component, state in STATES.items():
        with client.get(f"/regions/{REGION}/components/{component}/badge.svg") as answer:
            assert answer.status_code == 200
            assert answer.headers["Content-Type"] == "image/svg+xml; charset=utf-8"
            assert answer.headers["Cache-Control"] == "public, max-age=5"
            assert answer.headers["X-Frame-Options"] == "DENY"
            _, label, message, colour = parsed(answer.get_data())
            assert (label, message, colour) == (f"{component} ({REGION})", WORDS[state],
                                                COLOURS[state])
            etag = answer.headers["ETag"]
        again = client.get(f"/regions/{REGION}/components/{component}/badge.svg",
                           headers={"If-None-Match": etag})
        assert again.status_code == 304
    _, label, message, colour = parsed(client.get(BADGE).get_data())
    assert (label, message, colour) == (REGION, "major outage", COLOURS["major_outage"])
    assert client.get(f"/regions/{REGION}/components/nothing/badge.svg").status_code == 404
    assert client.get("/regions/mars-1/badge.svg").status_code == 404
    assert client.get(f"/regions/{REGION}/components/orders/uptime-7d.svg").status_code == 404


def test_the_uptime_badges_say_what_the_region_page_says(site: Flask) -> None:
    client = site.test_client()
    html = client.get(f"/regions/{REGION}/").get_data(as_text=True)
    shown = re.search(r'id="component-orders".*?<span class="uptime">([0-9.]+) % uptime since '
                      r'<time datetime="2026-08-31">', html, re.S)
    assert shown is not None
    _, _, ninety, _ = parsed(client.get(
        f"/regions/{REGION}/components/orders/uptime-90d.svg").get_data())
    _, _, thirty, _ = parsed(client.get(
        f"/regions/{REGION}/components/orders/uptime-30d.svg").get_data())
    assert ninety == f"{shown.group(1)}%"
    # Every minute from the first day with data up to NOW counts (a minute without checks
    # counts as available, as in the SLA), the empty days before it do not: the hour down
    # 40 days ago is in the 90 days (since 2026-08-31), not in the last 30 (since the 1st).
    assert ninety == f"{100 * (1 - 90 / (40 * 1440 + 720)):.3f}%" == "99.846%"
    assert thirty == f"{100 * (1 - 30 / (9 * 1440 + 720)):.3f}%" == "99.781%"


def test_the_copy_serves_the_same_badges_and_embeds_as_the_app(site: Flask,
                                                               tmp_path: Path) -> None:
    client = site.test_client()
    urls = [BADGE, *component_urls(), EMBED, "/embed"]
    rendered = {url: client.get(url) for url in urls}
    out = publish(site, tmp_path / "public")
    for url in urls:
        live = rendered[url]
        assert live.status_code == 200, url
        assert "Last-Modified" not in live.headers
        with client.get(url) as copied:
            assert copied.status_code == 200
            assert "Last-Modified" in copied.headers, url  # from the copy
            assert copied.get_data() == live.get_data(), url
            for name in ("Content-Type", "Cache-Control", "Content-Security-Policy",
                         "X-Frame-Options", "X-Content-Type-Options"):
                assert copied.headers.get(name) == live.headers.get(name), (url, name)
            etag = copied.headers["ETag"]
        assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert (out / f"regions/{REGION}/components/orders/badge.svg").is_file()
    gzipped = client.get(component_urls()[0], headers={"Accept-Encoding": "gzip"})
    assert gzipped.headers["Content-Encoding"] == "gzip"


def test_the_embed_is_the_only_page_other_sites_may_frame(site: Flask,
                                                          tmp_path: Path) -> None:
    client = site.test_client()
    others = ["/", f"/regions/{REGION}/", "/history", "/feed.atom", "/api/v2/summary.json",
              f"/regions/{REGION}/latency.json", BADGE, *component_urls(), "/subscribe",
              "/login", "/healthz", "/api/v1/openapi.json", "/static/status.css"]
    for copy in (False, True):
        if copy:
            publish(site, tmp_path / "public")
        for url in others:
            with client.get(url) as answer:
                assert answer.status_code == 200, url
                for name, value in security_headers().items():
                    assert answer.headers[name] == value, (copy, url, name)
        for url in (EMBED, "/embed"):
            with client.get(url) as answer:
                assert answer.headers["Content-Security-Policy"] == FRAMEABLE_CSP
                assert "X-Frame-Options" not in answer.headers
                assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
                expected = security_headers(frameable=True)
                assert {n: answer.headers[n] for n in expected} == expected
    policy, frameable = (dict(d.split(" ", 1) for d in c.split("; ")) for c in (CSP, FRAMEABLE_CSP))
    assert policy.pop("frame-ancestors") == "'none'"
    assert frameable.pop("frame-ancestors") == "*"
    assert frameable == policy  # script-src 'self' and the rest: as strict as every page


def test_the_embed_shows_the_status_without_a_script(site: Flask) -> None:
    client = site.test_client()
    regional = client.get(EMBED).get_data(as_text=True)
    assert "<script" not in regional
    page = client.get(f"/regions/{REGION}/").get_data(as_text=True)
    assert f"<h1>{REGION}: Partial System Outage</h1>" in page
    assert "</a>: Partial System Outage</h1>" in regional  # the region page's own words
    for component, state in STATES.items():
        assert re.search(rf"<span>{component}</span><span class=\"state state-{state.value}\"",
                         regional), component
    assert 'href="http://127.0.0.1:8000/regions/europe-west1.gcp/" target="_blank"' in regional
    whole = client.get("/embed").get_data(as_text=True)
    assert "<script" not in whole
    assert f'{REGION}</a><span class="state state-major_outage">' in whole
    assert client.get("/regions/mars-1/embed").status_code == 404


@pytest.mark.parametrize(("url", "relative"), [
    ("/embed", "embed.html"),
    (EMBED, f"regions/{REGION}/embed.html"),
    (BADGE, f"regions/{REGION}/badge.svg"),
    (f"/regions/{REGION}/components/orders/badge.svg",
     f"regions/{REGION}/components/orders/badge.svg"),
    (f"/regions/{REGION}/components/orders/uptime-30d.svg",
     f"regions/{REGION}/components/orders/uptime-30d.svg"),
    (f"/regions/{REGION}/components/audit-log/uptime-90d.svg",
     f"regions/{REGION}/components/audit-log/uptime-90d.svg"),
])
def test_the_copy_maps_badge_and_embed_urls_to_the_published_files(url: str,
                                                                   relative: str) -> None:
    found = published_file(url)
    assert found is not None
    assert found[0] == relative
    assert is_embed_file(found[0]) == url.endswith("/embed")


@pytest.mark.parametrize("url", [
    "/embed/", "/regions/../embed", f"/regions/{REGION}/components/orders/uptime-7d.svg",
    f"/regions/{REGION}/components/../badge.svg", f"/regions/{REGION}/components/badge.svg",
    f"/regions/{REGION}/components/a/b/badge.svg", "/regions/badge.svg",
])
def test_the_copy_leaves_other_badge_urls_to_flask(url: str) -> None:
    assert published_file(url) is None
