"""The Statuspage v2 documents against Statuspage's own shapes (fixtures/statuspage_v2.json,
from its public docs) and meanings: every endpoint, every field of its type and values, one
time format, times that are when something happened (never the render), a group component
per region, the page indicator by Statuspage's rules, and documents and feeds that change
only when what they say does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from core.db import make_session_factory, session_scope
from probes.models import ComponentState
from status.models import (
    Incident,
    IncidentUpdate,
)
from status.page import indicator_for
from status.site import Site
from status.static_site import published_file
from tests.status.conftest import AU, EU, START, US
from tests.status.statuspage_shapes import FIXTURES, SHAPES, TIMESTAMP, differences
from tests.status.statuspage_world import MINUTE, clear, seed
from tests.support.clock import ManualClock

ENDPOINTS: list[str] = SHAPES["endpoints"]
ATOM = "{http://www.w3.org/2005/Atom}"


def ms(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
def seeded(app_engine: Engine) -> Iterator[dict[str, Any]]:
    clear(app_engine)
    yield seed(app_engine)
    clear(app_engine)


def get(api: FlaskClient, path: str) -> Any:
    answer = api.get(path)
    assert answer.status_code == 200, (path, answer.status_code)
    return answer.get_json()


def by_id(items: list[dict[str, Any]], wanted: int) -> dict[str, Any]:
    return next(item for item in items if item["id"] == str(wanted))


@pytest.mark.parametrize("region", [None, US])
def test_every_document_has_statuspage_fields_of_its_types_and_values(
        api: FlaskClient, seeded: dict[str, Any], region: str | None) -> None:
    query = f"?region={region}" if region else ""
    for name in ENDPOINTS:
        document = get(api, f"/api/v2/{name}.json{query}")
        assert differences(document, name) == [], name
    assert len(ENDPOINTS) == 8


def test_the_comparison_finds_what_a_statuspage_client_would_miss() -> None:
    """The checker passes a payload written as Statuspage writes one, and fails each of the
    differences issue 13 measured on the old documents."""
    example = json.loads((FIXTURES / "summary_example.json").read_text())
    assert differences(example, "summary") == []
    stub = {k: example["incidents"][0]["components"][0][k] for k in ("id", "name", "status")}

    broken: list[tuple[str, str, Any]] = [
        ("page", "updated_at", "2026-11-30T09:41:07.512345+00:00"),  # microseconds
        ("page", "updated_at", "2026-11-30T09:41:07+00:00"),  # the fraction dropped
        ("incident", "shortlink", None),
        ("incident", "components", [stub]),  # a {id, name, status} stub
        ("update", "tweet_id", KeyError),  # missing
        ("status", "indicator", "severe"),
        ("group", "components", KeyError),
    ]
    for where, field, value in broken:
        document = json.loads((FIXTURES / "summary_example.json").read_text())
        target = {"page": document["page"], "incident": document["incidents"][0],
                  "update": document["incidents"][0]["incident_updates"][0],
                  "status": document["status"], "group": document["components"][0]}[where]
        if value is KeyError:
            del target[field]
        else:
            target[field] = value
        found = differences(document, "summary")
        assert any(field in line for line in found), (where, field, found)


def _times(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("_at") or key in ("scheduled_for", "scheduled_until"):
                yield f"{path}.{key}", item
            else:
                yield from _times(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _times(item, f"{path}[{i}]")


def test_every_time_is_written_one_way(api: FlaskClient, seeded: dict[str, Any]) -> None:
    """UTC with milliseconds and Z, as Statuspage writes a UTC page's times: never
    microseconds, never a dropped fraction, never two formats in one document."""
    seen = 0
    for name in ENDPOINTS:
        for path, value in _times(get(api, f"/api/v2/{name}.json")):
            assert value is None or (TIMESTAMP.fullmatch(value) and value.endswith("Z")), \
                (name, path, value)
            seen += value is not None
    assert seen > 100


def test_incident_fields_mean_what_statuspage_means(api: FlaskClient, status_app: Flask,
                                                    seeded: dict[str, Any]) -> None:
    ids, t = seeded["ids"], seeded["t"]
    url = status_app.extensions["bellwether"].settings.effective_public_url
    incidents = get(api, "/api/v2/incidents.json")["incidents"]
    components = {c["id"]: c for c in get(api, "/api/v2/components.json")["components"]}

    open_one = by_id(incidents, ids["open"])
    assert open_one["created_at"] == ms(t["opened"])
    assert open_one["started_at"] == ms(t["first_failure"])  # when the trouble began
    assert open_one["monitoring_at"] is None
    assert open_one["shortlink"] == f"{url}/incidents/{ids['open']}"
    assert api.get(f"/incidents/{ids['open']}").status_code == 200
    assert open_one["components"] == [components[f"orders.{US}"]]  # the full object
    (update,) = open_one["incident_updates"]  # the internal note is not public
    assert "Ann" not in json.dumps(incidents)
    assert update["affected_components"] == [
        {"code": f"orders.{US}", "name": f"orders ({US})", "old_status": "operational",
         "new_status": "major_outage"}]
    assert (update["deliver_notifications"], update["custom_tweet"], update["tweet_id"]) \
        == (True, None, None)

    resolved = by_id(incidents, ids["resolved"])
    assert resolved["monitoring_at"] == ms(t["watching"])  # kept after resolving
    assert resolved["resolved_at"] == ms(t["resolved"])
    newest, middle, first = resolved["incident_updates"]
    assert [u["status"] for u in (newest, middle, first)] == \
        ["resolved", "monitoring", "identified"]
    code = f"carts.{EU}"
    assert first["affected_components"][0]["code"] == code
    assert (first["affected_components"][0]["old_status"],
            first["affected_components"][0]["new_status"]) == ("operational", "partial_outage")
    assert (middle["affected_components"][0]["old_status"],
            middle["affected_components"][0]["new_status"]) == ("partial_outage", "operational")

    watched = by_id(get(api, "/api/v2/incidents/unresolved.json")["incidents"], ids["watched"])
    assert watched["monitoring_at"] == ms(t["watching"] + timedelta(minutes=31))


def test_components_have_real_times_and_a_group_per_region(
        api: FlaskClient, status_app: Flask, seeded: dict[str, Any]) -> None:
    t = seeded["t"]
    listed = get(api, "/api/v2/components.json")["components"]
    objects = {c["id"]: c for c in listed}
    orders = objects[f"orders.{US}"]
    assert orders["name"] == f"orders ({US})"  # the contract's name
    assert orders["created_at"] == ms(t["orders_first"])  # first recorded, not last change
    assert orders["updated_at"] == ms(t["orders_down"])  # its status's last change
    imports = objects[f"import.{EU}"]
    assert imports["status"] == "under_maintenance"
    assert imports["updated_at"] == ms(t["active_start"])  # the window put it there
    groups = [c for c in listed if c["group"]]
    assert [g["name"] for g in groups] == list(
        status_app.extensions["bellwether"].settings.regions)
    assert {EU, US, AU} <= {g["name"] for g in groups}
    for group in groups:
        members = [c for c in listed if c["group_id"] == group["id"]]
        assert group["components"] == [m["id"] for m in members]
        assert all(m["name"].endswith(f" ({group['name']})") for m in members)
        assert group["group_id"] is None
    us = next(g for g in groups if g["name"] == US)
    assert us["status"] == "major_outage"
    assert us["updated_at"] == ms(t["orders_down"])


def test_maintenance_times_are_when_it_was_scheduled_and_its_steps(
        api: FlaskClient, clock: ManualClock, seeded: dict[str, Any]) -> None:
    ids, t = seeded["ids"], seeded["t"]
    upcoming = get(api, "/api/v2/scheduled-maintenances/upcoming.json")
    active = get(api, "/api/v2/scheduled-maintenances/active.json")
    assert [m["id"] for m in upcoming["scheduled_maintenances"]] == [str(ids["upcoming"])]
    assert [m["id"] for m in active["scheduled_maintenances"]] == [str(ids["active"])]
    every = get(api, "/api/v2/scheduled-maintenances.json")["scheduled_maintenances"]
    assert {m["id"] for m in every} == {str(ids[n]) for n in ("upcoming", "active", "done")}
    summary = get(api, "/api/v2/summary.json")["scheduled_maintenances"]
    assert {m["id"] for m in summary} == {str(ids["upcoming"]), str(ids["active"])}

    scheduled = by_id(every, ids["upcoming"])
    assert scheduled["created_at"] == ms(t["scheduled"])  # when it was scheduled
    assert scheduled["updated_at"] == ms(t["scheduled"])  # nothing happened since
    assert scheduled["scheduled_for"] == ms(t["upcoming"])
    assert [u["status"] for u in scheduled["incident_updates"]] == ["scheduled"]
    running = by_id(every, ids["active"])
    assert running["updated_at"] == ms(t["active_start"])
    assert [u["status"] for u in running["incident_updates"]] == ["in_progress", "scheduled"]
    done = by_id(every, ids["done"])
    assert done["status"] == "completed"
    assert done["updated_at"] == done["resolved_at"] == ms(t["done_end"])

    clock.advance(timedelta(minutes=10))  # time passes, nothing happens
    later = get(api, "/api/v2/scheduled-maintenances.json")["scheduled_maintenances"]
    assert later == every

    clock.advance(t["upcoming"] - clock.now() + MINUTE)  # the upcoming window starts
    started = by_id(get(api, "/api/v2/scheduled-maintenances/active.json")
                    ["scheduled_maintenances"], ids["upcoming"])
    assert started["status"] == "in_progress"
    assert started["created_at"] == ms(t["scheduled"])
    assert started["updated_at"] == ms(t["upcoming"])
    assert get(api, "/api/v2/scheduled-maintenances/upcoming.json")[
        "scheduled_maintenances"] == []


FEEDS = ("/feed.atom", "/history.atom", "/history.rss", f"/regions/{US}/feed.atom")


def test_documents_and_feeds_change_only_when_what_they_say_does(
        api: FlaskClient, clock: ManualClock, app_engine: Engine,
        seeded: dict[str, Any]) -> None:
    paths = [*(f"/api/v2/{name}.json" for name in ENDPOINTS), *FEEDS]
    before = {path: api.get(path) for path in paths}
    clock.advance(timedelta(minutes=7))
    for path, first in before.items():
        again = api.get(path)
        assert again.data == first.data, path
        assert api.get(path, headers={"If-None-Match": first.headers["ETag"]}).status_code \
            == 304, path
    atom = ElementTree.fromstring(before["/feed.atom"].data)
    page = get(api, "/api/v2/status.json")["page"]
    updated = atom.find(f"{ATOM}updated")
    assert updated is not None
    assert updated.text is not None
    assert datetime.fromisoformat(updated.text) == datetime.fromisoformat(
        page["updated_at"].replace("Z", "+00:00"))

    with session_scope(make_session_factory(app_engine)) as session:  # something happens
        incident = session.get(Incident, seeded["ids"]["open"])
        assert incident is not None
        incident.status, incident.updated_at = "identified", clock.now()
        incident.updates.append(IncidentUpdate(status="identified", body="Found it",
                                               created_at=clock.now()))
    for path in ("/api/v2/summary.json", "/api/v2/incidents.json", "/feed.atom",
                 "/history.rss"):
        assert api.get(path).data != before[path].data, path
    assert get(api, "/api/v2/status.json")["page"]["updated_at"] == ms(clock.now())


def test_feeds_at_statuspages_paths(api: FlaskClient, seeded: dict[str, Any]) -> None:
    ids = seeded["ids"]
    atom = api.get("/history.atom")
    assert atom.mimetype == "application/atom+xml"
    entries = ElementTree.fromstring(atom.data).findall(f"{ATOM}entry")
    assert len(entries) == 6
    for entry in entries:  # published no later than updated (a maintenance too)
        published, updated = entry.find(f"{ATOM}published"), entry.find(f"{ATOM}updated")
        assert published is not None
        assert updated is not None
        assert published.text is not None
        assert updated.text is not None
        assert datetime.fromisoformat(published.text) <= datetime.fromisoformat(updated.text)
    rss = api.get("/history.rss")
    assert rss.mimetype == "application/rss+xml"
    channel = ElementTree.fromstring(rss.data).find("channel")
    assert channel is not None
    items = channel.findall("item")
    assert len(items) == 6
    links = {item.findtext("link") for item in items}
    assert any(link is not None and link.endswith(f"/incidents/{ids['open']}")
               for link in links)
    assert all(item.findtext("guid") and item.findtext("pubDate") for item in items)


def test_the_static_copy_holds_every_document_and_feed(
        status_app: Flask, api: FlaskClient, clock: ManualClock, tmp_path: Path,
        seeded: dict[str, Any]) -> None:
    runtime = status_app.extensions["bellwether"]
    out = tmp_path / "public"
    with session_scope(runtime.session_factory) as session:
        Site(runtime.settings).publish(session, clock.now(), out)
    paths = [*(f"/api/v2/{name}.json" for name in ENDPOINTS),
             *(f"/api/v2/regions/{US}/{name}.json" for name in ENDPOINTS),
             "/history.atom", "/history.rss"]
    for path in paths:
        found = published_file(path)
        assert found is not None, path
        assert (out / found[0]).read_bytes() == api.get(path).data, path


@pytest.mark.parametrize(("states", "impacts", "expected"), [
    ([], [], ("none", "All Systems Operational")),
    (["operational"], ["minor"], ("minor", "Minor Service Outage")),
    (["under_maintenance"], [], ("maintenance", "Service Under Maintenance")),
    (["degraded_performance"], [], ("minor", "Partially Degraded Service")),
    (["partial_outage"], [], ("major", "Partial System Outage")),
    (["major_outage"], [], ("critical", "Major System Outage")),
    (["operational", "operational"], [], ("none", "All Systems Operational")),
    (["major_outage", "major_outage"], [], ("critical", "Major System Outage")),
    (["major_outage", "operational"], [], ("major", "Partial System Outage")),
    (["partial_outage", "partial_outage"], [], ("major", "Partial System Outage")),
    (["partial_outage", "operational"], [], ("minor", "Minor Service Outage")),
    (["degraded_performance"] * 3, [], ("minor", "Degraded System Service")),
    (["degraded_performance", "operational"], [], ("minor", "Partially Degraded Service")),
    (["under_maintenance", "operational"], [], ("maintenance", "Service Under Maintenance")),
    (["no_data", "operational"], [], ("minor", "Partially Degraded Service")),
    (["degraded_performance", "operational"], ["critical"], ("critical",
                                                             "Major System Outage")),
    (["major_outage", "operational"], ["minor"], ("major", "Partial System Outage")),
    (["under_maintenance", "operational"], ["major"], ("major", "Partial System Outage")),
])
def test_the_page_indicator_follows_statuspages_rules(
        states: list[str], impacts: list[str], expected: tuple[str, str]) -> None:
    assert indicator_for(states, impacts) == expected


def test_one_component_down_of_many_is_not_a_major_system_outage(
        api: FlaskClient, app_engine: Engine) -> None:
    clear(app_engine)
    try:
        with session_scope(make_session_factory(app_engine)) as session:
            session.add(ComponentState(component="orders", region=US, state="major_outage",
                                       since=START, reason="3 of 3", evaluated_at=START))
        assert get(api, "/api/v2/status.json")["status"] == {
            "indicator": "major", "description": "Partial System Outage"}
        assert get(api, f"/api/v2/status.json?region={EU}")["status"] == {
            "indicator": "none", "description": "All Systems Operational"}
    finally:
        clear(app_engine)
