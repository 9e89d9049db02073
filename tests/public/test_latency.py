"""The region page's latency charts: their data is latency.json, fetched by the page, on one
shared 5-minute axis; the page itself carries none of it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, delete, insert

from core.db import make_session_factory, session_scope
from probes.models import LocationMinute
from status.charts import latency_document
from status.site import Site
from tests.support.clock import ManualClock

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
LAST = int(NOW.timestamp()) // 60
FIRST = LAST - 24 * 60  # the first minute of the last 24 h, as latency_series reads them
REGION = "europe-west1.gcp"


def _row(location: str, minute: int, p50: float, p95: float,
         region: str = REGION) -> dict[str, Any]:
    return {"component": "orders", "region": region, "location": location, "minute": minute,
            "checks": 2, "failures": 0, "degraded": 0, "latency_p50_ms": p50,
            "latency_p95_ms": p95, "latency_max_ms": p95 + 1, "status": "up"}


#: Five minutes of loc-a in one bucket, one minute of loc-b, and two rows that must not show.
ROLLUPS = [
    *(_row("loc-a", LAST - 10 + i, p50, p95)
      for i, (p50, p95) in enumerate([(10, 100), (30, 300), (20, 200), (50, 500), (40, 400)])),
    _row("loc-b", LAST - 1, 7.04, 9.96),
    _row("loc-a", FIRST - 1, 999, 999),  # older than 24 h
    _row("loc-a", LAST - 10, 888, 888, region="us-central1.gcp"),  # another region
]


@pytest.fixture
def rollups(engine: Engine) -> Iterator[None]:
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        session.execute(delete(LocationMinute))
        session.execute(insert(LocationMinute), ROLLUPS)
    yield
    with session_scope(factory) as session:
        session.execute(delete(LocationMinute))


@pytest.fixture
def page_client(app: Flask) -> FlaskClient:
    app.extensions["bellwether"].clock = ManualClock(NOW)
    return app.test_client()


def _nulls_but(points: int, values: dict[int, float]) -> list[float | None]:
    return [values.get(i) for i in range(points)]


def test_buckets_show_the_median_minute_p50_and_the_highest_minute_p95() -> None:
    series = {"orders": {"loc-a": [(FIRST + 5, 10.0, 100.0), (FIRST + 6, 30.0, 300.0),
                                   (FIRST + 7, 20.0, 200.0), (FIRST + 9, 40.0, 250.0),
                                   (LAST, 5.55, 6.0)]},
              "carts": {}}
    document = latency_document(series, FIRST, LAST)
    assert (document["start"], document["step"], document["points"]) == (FIRST * 60, 300, 289)
    assert document["components"]["carts"] == {}
    loc_a = document["components"]["orders"]["loc-a"]
    assert loc_a["p50"] == _nulls_but(289, {1: 20.0, 288: 5.5})
    assert loc_a["p95"] == _nulls_but(289, {1: 300.0, 288: 6.0})


def test_buckets_align_to_the_step_and_drop_minutes_outside_the_window() -> None:
    first = FIRST + 3  # 12:03 yesterday: its bucket starts at 12:00
    document = latency_document({"orders": {"x": [(FIRST, 1.0, 2.0), (LAST + 5, 1.0, 2.0)]}},
                                first, LAST)
    assert document["start"] == FIRST * 60
    assert document["components"]["orders"]["x"]["p50"] == [1.0] + [None] * 288


def test_the_region_page_fetches_its_chart_data_instead_of_embedding_it(
        page_client: FlaskClient, rollups: None) -> None:
    html = page_client.get(f"/regions/{REGION}/").get_data(as_text=True)
    assert f'data-latency="/regions/{REGION}/latency.json"' in html
    assert 'data-figure="latency-orders"' in html
    assert 'id="figures"' not in html
    assert "loc-a" not in html
    assert '"p50"' not in html


def test_latency_json_holds_the_regions_last_24_hours_on_one_axis(
        page_client: FlaskClient, rollups: None) -> None:
    answer = page_client.get(f"/regions/{REGION}/latency.json")
    assert answer.status_code == 200
    assert answer.mimetype == "application/json"
    document = answer.get_json()
    assert (document["start"], document["step"], document["points"]) == (FIRST * 60, 300, 289)
    components = document["components"]
    assert "carts" in components
    assert components["carts"] == {}
    assert set(components["orders"]) == {"loc-a", "loc-b"}
    assert components["orders"]["loc-a"] == {"p50": _nulls_but(289, {286: 30.0}),
                                             "p95": _nulls_but(289, {286: 500.0})}
    assert components["orders"]["loc-b"] == {"p50": _nulls_but(289, {287: 7.0}),
                                             "p95": _nulls_but(289, {287: 10.0})}
    assert page_client.get("/regions/mars-1/latency.json").status_code == 404


def test_the_published_copy_holds_each_regions_latency_json(
        app: Flask, page_client: FlaskClient, rollups: None, tmp_path: Path) -> None:
    runtime = app.extensions["bellwether"]
    rendered = page_client.get(f"/regions/{REGION}/latency.json").get_data()
    with session_scope(runtime.session_factory) as session:
        Site(runtime.settings).publish(session, NOW, tmp_path)
    for region in runtime.settings.regions:
        assert (tmp_path / f"regions/{region}/latency.json").is_file()
    published = tmp_path / f"regions/{REGION}/latency.json"
    assert published.read_bytes() == rendered
    assert "loc-a" not in (tmp_path / f"regions/{REGION}/index.html").read_text()
    runtime.parts["public_dir"] = tmp_path
    with page_client.get(f"/regions/{REGION}/latency.json") as served:
        assert served.get_data() == rendered
        assert served.headers["Last-Modified"]  # the published file, not a rendering
