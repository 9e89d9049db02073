"""Feeds per region at Statuspage's feed names (`/regions/<region>/history.atom` and
`.rss`), read with feedparser as a feed reader reads them: each holds the region's own
incidents and maintenance, with ids and `updated` values that do not move while nothing
happens and are the same in every feed; every entry, and a maintenance's `shortlink`, links
to a page of its own (`/incidents/<id>`, `/maintenances/<id>`), in the app and in the static
copy alike."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser  # type: ignore[import-untyped]
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from core.db import make_session_factory, session_scope
from status.models import Incident, IncidentUpdate
from status.site import Site
from status.static_site import published_file
from tests.status.conftest import AU, EU, US
from tests.status.statuspage_world import clear, seed
from tests.support.clock import ManualClock

KINDS = ("history.atom", "history.rss")


@pytest.fixture
def seeded(app_engine: Engine) -> Iterator[dict[str, Any]]:
    clear(app_engine)
    yield seed(app_engine)
    clear(app_engine)


def read_feed(api: FlaskClient, path: str) -> Any:
    answer = api.get(path)
    assert answer.status_code == 200, (path, answer.status_code)
    parsed = feedparser.parse(answer.data)
    assert not parsed.bozo, (path, parsed.get("bozo_exception"))
    return parsed


def region_events(api: FlaskClient, region: str) -> dict[str, dict[str, Any]]:
    """The region's incidents and maintenance as its Statuspage JSON lists them, by
    shortlink."""
    base = f"/api/v2/regions/{region}"
    incidents = api.get(f"{base}/incidents.json").get_json()["incidents"]
    windows = api.get(f"{base}/scheduled-maintenances.json").get_json()[
        "scheduled_maintenances"]
    return {event["shortlink"]: event for event in [*incidents, *windows]}


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_each_region_has_atom_and_rss_feeds_of_its_own_incidents_and_maintenance(
        api: FlaskClient, seeded: dict[str, Any]) -> None:
    ids = seeded["ids"]
    url = api.get("/api/v2/status.json").get_json()["page"]["url"]
    expected = {US: {f"{url}/incidents/{ids['open']}", f"{url}/incidents/{ids['watched']}"},
                EU: {f"{url}/incidents/{ids['resolved']}",
                     f"{url}/maintenances/{ids['upcoming']}",
                     f"{url}/maintenances/{ids['active']}"},
                AU: {f"{url}/maintenances/{ids['done']}"}}
    for region, links in expected.items():
        events = region_events(api, region)
        assert set(events) == links, region
        for kind in KINDS:
            parsed = read_feed(api, f"/regions/{region}/{kind}")
            assert parsed.version == ("atom10" if kind.endswith("atom") else "rss20")
            assert {entry.id for entry in parsed.entries} == links, (region, kind)
            assert {entry.link for entry in parsed.entries} == links, (region, kind)
            for entry in parsed.entries:
                assert entry.title == f"[{events[entry.id]['status']}] {events[entry.id]['name']}"
    atom = api.get(f"/regions/{US}/history.atom")
    rss = api.get(f"/regions/{US}/history.rss")
    assert atom.mimetype == "application/atom+xml"
    assert rss.mimetype == "application/rss+xml"
    assert read_feed(api, f"/regions/{US}/history.atom").feed.id == \
        f"{url}/regions/{US}/history.atom"
    assert api.get("/regions/nowhere/history.atom").status_code == 404
    assert api.get("/regions/nowhere/history.rss").status_code == 404


def test_entry_ids_and_updated_values_are_what_happened_and_do_not_move(
        api: FlaskClient, clock: ManualClock, seeded: dict[str, Any]) -> None:
    paths = ["/history.atom", *(f"/regions/{r}/history.atom" for r in (US, EU, AU))]
    first = {path: api.get(path).data for path in paths}
    clock.advance(timedelta(minutes=7))
    whole = {entry.id: entry for entry in read_feed(api, "/history.atom").entries}
    for path in paths:
        assert api.get(path).data == first[path], path
        parsed = read_feed(api, path)
        for entry in parsed.entries:  # the same entry, the same id and times everywhere
            assert entry.id in whole, (path, entry.id)
            assert entry.updated == whole[entry.id].updated
            assert entry.published == whole[entry.id].published
    for region in (US, EU, AU):
        events = region_events(api, region)
        parsed = read_feed(api, f"/regions/{region}/history.atom")
        for entry in parsed.entries:
            assert when(entry.updated) == when(events[entry.id]["updated_at"])
            assert when(entry.published) <= when(entry.updated)
        # The feed's <updated> is when the region's page last changed (a component's
        # state too), never the render time.
        page = api.get(f"/api/v2/regions/{region}/status.json").get_json()["page"]
        assert when(parsed.feed.updated) == when(page["updated_at"])
        assert when(parsed.feed.updated) >= max(when(e.updated) for e in parsed.entries)
    rss = read_feed(api, f"/regions/{EU}/history.rss")  # RSS guids are the Atom ids
    atom = read_feed(api, f"/regions/{EU}/history.atom")
    assert [e.id for e in rss.entries] == [e.id for e in atom.entries]


def test_an_update_moves_only_its_entry_and_the_feeds_that_hold_it(
        api: FlaskClient, clock: ManualClock, app_engine: Engine,
        seeded: dict[str, Any]) -> None:
    before = {r: read_feed(api, f"/regions/{r}/history.atom") for r in (US, EU)}
    eu_bytes = api.get(f"/regions/{EU}/history.atom").data
    clock.advance(timedelta(minutes=3))
    with session_scope(make_session_factory(app_engine)) as session:
        incident = session.get(Incident, seeded["ids"]["open"])
        assert incident is not None
        incident.status, incident.updated_at = "identified", clock.now()
        incident.updates.append(IncidentUpdate(status="identified", body="Found it",
                                               created_at=clock.now()))
    after = read_feed(api, f"/regions/{US}/history.atom")
    moved = {e.id: e.updated for e in after.entries}
    was = {e.id: e.updated for e in before[US].entries}
    changed = {entry_id for entry_id in moved if moved[entry_id] != was[entry_id]}
    assert changed == {e.id for e in after.entries if e.id.endswith(
        f"/incidents/{seeded['ids']['open']}")}
    assert when(after.feed.updated) == clock.now()
    assert api.get(f"/regions/{EU}/history.atom").data == eu_bytes


def test_each_maintenance_has_a_page_its_shortlink_and_entries_link_to(
        api: FlaskClient, seeded: dict[str, Any]) -> None:
    ids = seeded["ids"]
    windows = api.get("/api/v2/scheduled-maintenances.json").get_json()[
        "scheduled_maintenances"]
    assert {w["id"] for w in windows} == {str(ids[n]) for n in ("upcoming", "active", "done")}
    entries = {e.id: e for e in read_feed(api, "/history.rss").entries}
    for window in windows:
        assert window["shortlink"].endswith(f"/maintenances/{window['id']}")
        assert entries[window["shortlink"]].link == window["shortlink"]
        page = api.get(f"/maintenances/{window['id']}")
        assert page.status_code == 200
        assert page.mimetype == "text/html"
        html = page.get_data(as_text=True)
        assert f"<h1>{window['name']}</h1>" in html
        assert window["status"].replace("_", " ") in html
        for update in window["incident_updates"]:
            assert update["body"] in html
    active = api.get(f"/maintenances/{ids['active']}").get_data(as_text=True)
    assert "import (" in active
    unknown = max(int(w["id"]) for w in windows) + 1
    assert api.get(f"/maintenances/{unknown}").status_code == 404


def test_the_static_copy_holds_the_region_feeds_and_maintenance_pages(
        status_app: Flask, api: FlaskClient, clock: ManualClock, tmp_path: Path,
        seeded: dict[str, Any]) -> None:
    runtime = status_app.extensions["bellwether"]
    out = tmp_path / "public"
    with session_scope(runtime.session_factory) as session:
        Site(runtime.settings).publish(session, clock.now(), out)
    ids = seeded["ids"]
    paths = [*(f"/regions/{r}/{kind}" for r in (US, EU, AU) for kind in KINDS),
             *(f"/maintenances/{ids[n]}" for n in ("upcoming", "active", "done"))]
    for path in paths:
        found = published_file(path)
        assert found is not None, path
        assert (out / found[0]).read_bytes() == api.get(path).data, path
    assert published_file(f"/regions/{US}/history.rss") == (
        f"regions/{US}/history.rss", "application/rss+xml; charset=utf-8")
    assert published_file("/maintenances/0") is None
    assert published_file("/maintenances/../x") is None
