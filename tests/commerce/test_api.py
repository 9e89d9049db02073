"""The fault injector's HTTP API and `bellwether fault` against a running web app."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from commerce.fleet import Fleet
from core.config import Settings
from core.servers import Listener

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fleet_app(settings: Settings, fleet: Fleet) -> Iterator[Flask]:
    app = create_app(settings, parts={"fleet": fleet})
    yield app
    with app.test_client() as client:
        client.delete("/api/v1/faults", headers={"Authorization": "Bearer none"})
    fleet.refresh_faults()
    app.extensions["bellwether"].engine.dispose()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_faults_need_an_admin_token(client: FlaskClient, support_token: str) -> None:
    assert client.get("/api/v1/faults").status_code == 401
    assert client.get("/api/v1/faults", headers=auth("bw_wrong")).status_code == 401
    forbidden = client.post("/api/v1/faults", json={"kind": "region_down", "region": "x"},
                            headers=auth(support_token))
    assert forbidden.status_code == 403
    assert forbidden.get_json()["error"] == "forbidden"


def test_faults_are_injected_listed_and_cleared(fleet_app: Flask, fleet: Fleet,
                                                admin_token: str) -> None:
    client = fleet_app.test_client()
    created = client.post("/api/v1/faults", headers=auth(admin_token), json={
        "kind": "zone_down", "region": "us-central1.gcp", "zone": "c", "duration_s": 600})
    assert created.status_code == 201
    fault_id = created.get_json()["id"]
    assert not fleet.zones[("us-central1.gcp", "c")].running
    listed = client.get("/api/v1/faults", headers=auth(admin_token)).get_json()["faults"]
    assert [(f["id"], f["kind"], f["zone"]) for f in listed] == [(fault_id, "zone_down", "c")]
    assert client.delete(f"/api/v1/faults/{fault_id}",
                         headers=auth(admin_token)).status_code == 200
    assert fleet.zones[("us-central1.gcp", "c")].running
    assert client.delete(f"/api/v1/faults/{fault_id}",
                         headers=auth(admin_token)).status_code == 404


@pytest.mark.parametrize("kind", ["region_down", "zone_down", "service_down", "auth_down",
                                  "latency", "error_rate", "partition", "database_down"])
def test_every_kind_can_be_injected_and_cleared(fleet_app: Flask, admin_token: str,
                                                kind: str) -> None:
    body = {"kind": kind, "region": "australia-southeast1.gcp", "zone": "a",
            "service": "search", "location": "loc-b",
            "value": 0.2 if kind == "error_rate" else 40}
    client = fleet_app.test_client()
    created = client.post("/api/v1/faults", json=body, headers=auth(admin_token))
    assert created.status_code == 201, created.get_json()
    cleared = client.delete("/api/v1/faults", headers=auth(admin_token)).get_json()
    assert cleared["cleared_count"] == 1


@pytest.mark.parametrize(("data", "status", "code"), [
    ("{oops", 400, "malformed_json"),
    ('{"kind": "zone_down"}', 400, "invalid_fault"),
    ('"zone_down"', 400, "malformed_json"),
])
def test_bad_fault_requests_get_problem_json(client: FlaskClient, admin_token: str, data: str,
                                             status: int, code: str) -> None:
    response = client.post("/api/v1/faults", data=data, content_type="application/json",
                           headers=auth(admin_token))
    assert response.status_code == status
    assert response.get_json()["error"] == code
    assert client.get("/api/v1/faults", headers=auth(admin_token)).get_json()["faults"] == []


def test_regions_lists_every_endpoint(fleet_app: Flask, fleet: Fleet) -> None:
    body = fleet_app.test_client().get("/api/v1/regions").get_json()
    assert [r["name"] for r in body["regions"]] == list(fleet.regions)
    eu = body["regions"][0]
    assert eu["router_url"] == fleet.routers["europe-west1.gcp"].url
    assert [z["url"] for z in eu["zones"]] == [fleet.zones[("europe-west1.gcp", z)].url
                                               for z in "abc"]


def test_the_home_page_lists_regions_and_faults(fleet_app: Flask, admin_token: str) -> None:
    client = fleet_app.test_client()
    client.post("/api/v1/faults", headers=auth(admin_token),
                json={"kind": "auth_down", "region": "us-central1.gcp"})
    page = client.get("/commerce").get_data(as_text=True)
    assert "australia-southeast1.gcp" in page
    assert "auth_down" in page
    assert "/oauth/token" in page
    assert client.delete("/api/v1/faults", headers=auth(admin_token)).status_code == 200


def test_the_cli_drives_a_running_instance(fleet_app: Flask, fleet: Fleet, settings: Settings,
                                           admin_token: str, tmp_path: Path) -> None:
    web = Listener("web-test", fleet_app)
    web.start()
    try:
        env = {"PATH": "/usr/bin:/bin", "BELLWETHER_ADMIN_TOKEN": admin_token,
               "BELLWETHER_DATA_DIR": str(tmp_path)}

        def bellwether(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, str(ROOT / "app.py"), *args,
                                   "--server", web.url], env=env, capture_output=True,
                                  text=True, timeout=60, check=False)

        injected = bellwether("fault", "inject", "service_down", "--region",
                              "europe-west1.gcp", "--service", "orders", "--duration-s", "300")
        assert injected.returncode == 0, injected.stderr
        assert fleet.faults().service_down("europe-west1.gcp", "orders")
        listed = bellwether("fault", "list")
        assert "service_down" in listed.stdout
        bad = bellwether("fault", "inject", "zone_down", "--region", "europe-west1.gcp")
        assert bad.returncode == 2
        assert "needs 'zone'" in bad.stderr
        cleared = bellwether("fault", "clear", "--all")
        assert cleared.returncode == 0
        assert "cleared 1 fault(s)" in cleared.stdout
        assert not fleet.faults().service_down("europe-west1.gcp", "orders")
    finally:
        web.stop()


def test_settings_fixture_is_isolated(settings: Settings) -> None:
    assert replace(settings).http_port == 0
