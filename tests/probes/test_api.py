"""The probes HTTP API: ingest from agents, probe definitions, live state and /metrics."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from core.config import load_settings
from core.models import Role
from probes.checks import CheckResult
from probes.metrics import ProbeMetrics
from probes.service import configured_probes
from tests.conftest import make_token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def checks(n: int, component: str = "orders") -> list[CheckResult]:
    at = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
    return [CheckResult(probe=f"{component}.x", component=component, region="europe-west1.gcp",
                        location="agent-1", intended_at=at + timedelta(seconds=i),
                        started_at=at + timedelta(seconds=i, milliseconds=3), ok=i % 3 != 0,
                        latency_ms=12.5) for i in range(n)]


def test_ingest_stores_a_batch_once_even_when_sent_twice(client: FlaskClient,
                                                         engine: Engine) -> None:
    token = make_token(engine, Role.AGENT, ("agent-1",))
    batch = {"checks": [c.to_json() for c in checks(5, f"c-{uuid.uuid4().hex[:6]}")]}
    first = client.post("/api/v1/ingest", json=batch, headers=bearer(token))
    again = client.post("/api/v1/ingest", json=batch, headers=bearer(token))
    assert first.get_json() == {"received": 5, "stored": 5, "duplicates": 0}
    assert again.get_json() == {"received": 5, "stored": 0, "duplicates": 5}
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'bellwether_ingest_checks_total{result="duplicate"} 5.0' in metrics


def test_ingest_refuses_bad_checks_and_stores_none_of_the_batch(client: FlaskClient,
                                                                 engine: Engine) -> None:
    token = make_token(engine, Role.AGENT, ("agent-1",))
    component = f"c-{uuid.uuid4().hex[:6]}"
    good = [c.to_json() for c in checks(2, component)]
    cases: list[tuple[dict[str, object], str]] = [
        ({"ok": "yes"}, "'ok'"), ({"started_at": "yesterday"}, "ISO 8601"),
        ({"latency_ms": -1}, "latency_ms"), ({"id": "not hex!"}, "'id'")]
    for broken, message in cases:
        answer = client.post("/api/v1/ingest", headers=bearer(token),
                             json={"checks": [good[0], {**good[1], **broken}]})
        assert answer.status_code == 400
        assert answer.get_json()["error"] == "invalid_check"
        assert message in answer.get_json()["detail"]
        assert "check 1" in answer.get_json()["detail"]
    listed = client.get(f"/api/v1/checks?component={component}&region=europe-west1.gcp",
                        headers=bearer(token)).get_json()
    assert listed == {"checks": []}
    assert client.post("/api/v1/ingest", data="{", headers={
        **bearer(token), "Content-Type": "application/json"}).status_code == 400
    assert client.post("/api/v1/ingest", json={"checks": []}).status_code == 401


def test_agents_may_ingest_but_not_define_probes(client: FlaskClient, engine: Engine) -> None:
    agent = make_token(engine, Role.AGENT, ("agent-1",))
    support = make_token(engine, Role.SUPPORT)
    body = {"component": "edge", "region": "europe-west1.gcp", "kind": "tcp",
            "target": "127.0.0.1:9"}
    assert client.put("/api/v1/probes/edge-tcp", json=body,
                      headers=bearer(agent)).status_code == 403
    assert client.post("/api/v1/ingest", json={"checks": []},
                       headers=bearer(support)).status_code == 403
    assert client.get("/api/v1/probes", headers=bearer(agent)).status_code == 200


def test_admins_define_change_and_delete_probes(client: FlaskClient, admin_token: str) -> None:
    name = f"shop-home-{uuid.uuid4().hex[:6]}"
    body = {"component": "storefront", "region": "europe-west1.gcp",
            "base_url": "https://shop.example.test", "interval_s": 60, "degraded_ms": 800,
            "steps": [{"method": "GET", "path": "/", "expect": {"status": [200],
                                                                "keyword": "Welcome"}}]}
    made = client.put(f"/api/v1/probes/{name}", json=body, headers=bearer(admin_token))
    assert made.status_code == 200, made.get_json()
    listed = client.get("/api/v1/probes", headers=bearer(admin_token)).get_json()["probes"]
    mine = next(p for p in listed if p["name"] == name)
    assert mine["source"] == "api"
    assert mine["steps"][0]["expect"]["keyword"] == "Welcome"
    bad = client.put(f"/api/v1/probes/{name}", headers=bearer(admin_token),
                     json={**body, "interval_s": 0})
    assert bad.status_code == 400
    assert "interval_s" in bad.get_json()["detail"]
    unknown = client.put("/api/v1/probes/x", headers=bearer(admin_token),
                         json={"component": "c", "region": "mars-1", "steps": [{"path": "/"}]})
    assert unknown.get_json()["error"] == "unknown_region"
    assert client.delete(f"/api/v1/probes/{name}",
                         headers=bearer(admin_token)).status_code == 200
    assert client.delete(f"/api/v1/probes/{name}",
                         headers=bearer(admin_token)).status_code == 404


def test_probes_can_be_declared_in_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "bellwether.toml"
    config.write_text('''
probe_interval_s = 15
[[probes]]
name = "partner-api"
component = "partner-api"
region = "europe-west1.gcp"
base_url = "https://partner.example.test"
steps = [{ method = "GET", path = "/health", expect = { status = [200, 204] } }]

[[probes]]
name = "partner-tls"
component = "partner-api"
region = "europe-west1.gcp"
kind = "tls"
target = "partner.example.test:443"
tls_warn_days = 21
''', encoding="utf-8")
    settings = load_settings({}, config)
    probes = {p.name: p for p in configured_probes(settings)}
    assert probes["partner-api"].steps[0].expect.status == (200, 204)
    assert probes["partner-api"].interval_s == 15
    assert probes["partner-tls"].tls_warn_days == 21
    assert probes["orders.europe-west1.gcp"].interval_s == 15
    assert len(probes) == 2 + 3 * 9


def test_metrics_use_prometheus_names_and_report_probe_outcomes(app: Flask) -> None:
    metrics: ProbeMetrics = app.extensions["bellwether"].parts["metrics"]
    check = checks(1)[0]
    metrics.observe_check(check, lag_s=0.004)
    text = app.test_client().get("/metrics").get_data(as_text=True)
    labels = 'component="orders",location="agent-1",region="europe-west1.gcp"'
    assert f"bellwether_probe_success{{{labels}}} 0.0" in text
    assert f"bellwether_probe_duration_seconds_count{{{labels}}} 1.0" in text
    assert "bellwether_scheduler_lag_seconds_bucket{le=\"0.005\"} 1.0" in text
    assert "# TYPE bellwether_component_state gauge" in text


def test_minute_verdicts_are_counted_between_two_times(client: FlaskClient,
                                                       engine: Engine) -> None:
    from core.db import make_session_factory, session_scope
    from probes import store
    from probes.rollup import ComponentMinuteRollup, Latency
    from sla.model import MinuteVerdict

    component = f"c-{uuid.uuid4().hex[:6]}"
    first = int(datetime(2026, 10, 1, 12, 0, tzinfo=UTC).timestamp()) // 60
    latency = Latency(1.0, 2.0, 3.0)
    rows = [ComponentMinuteRollup(first + i, 3, 3 if i < 4 else 0, 0, 3, 3 if i < 4 else 0,
                                  latency, MinuteVerdict.DOWN if i < 4 else MinuteVerdict.UP)
            for i in range(10)]
    with session_scope(make_session_factory(engine)) as session:
        store.replace_rollups(session, component, "europe-west1.gcp", first, first + 9, [],
                              rows)
    token = make_token(engine, Role.SUPPORT)
    answer = client.get(f"/api/v1/minutes?component={component}&region=europe-west1.gcp"
                        "&since=2026-10-01T12:00:00Z&until=2026-10-01T12:14:59Z",
                        headers=bearer(token)).get_json()
    assert answer["counts"] == {"up": 6, "down": 4, "no_data": 5}
    assert answer["last_rolled_minute"] == first + 9
    bad = client.get(f"/api/v1/minutes?component={component}&region=europe-west1.gcp"
                     "&since=soon&until=later", headers=bearer(token))
    assert bad.status_code == 400
