"""The drill runner counts every trigger (burn-rate ones included) by dedup_key and routing
key, reads the probe interval from the instance, and says in one line when paging or
subscribers are missing instead of a bare "0 pages"."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from alerts.outbox import Notice, enqueue
from app import create_app
from core.auth import create_token, create_user
from core.config import Settings
from core.db import make_session_factory, session_scope
from core.models import Role
from core.remote import RemoteApi
from drills.instance import InstanceFacts, facts_from
from drills.runner import Alert, Drill, DrillResult, _calm_problems, _incident_problems
from drills.scenarios import by_name
from status.models import Subscriber
from tests.support.clock import ManualClock
from tests.support.databases import create_database, drop_database

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
PAGING = {"pagerduty": {"tier1": {"configured": True}, "tier2": {"configured": False}},
          "subscribers": {"email": 2}, "probe_interval_s": 30, "notice_settle_s": 30}


def result(alerts: list[Alert], notes: list[str] | None = None) -> DrillResult:
    found = DrillResult("auth", "Auth fails", "one page", NOW, alerts=alerts,
                        notes=notes or [], incidents=[{"title": "auth unavailable"}],
                        notify_s=3.0, resolve_s=20.0)
    return found


def test_a_burn_rate_page_beside_the_outage_fails_the_drill() -> None:
    storm = result([Alert("bellwether-incident-4", "tier1", 1),
                    Alert("bellwether-incident-5", "tier1", 1)])
    problems = _incident_problems(by_name("auth"), storm)
    assert problems == ["2 pages: bellwether-incident-4 on tier1, bellwether-incident-5 on "
                        "tier1 instead of one page per routing key"]


def test_repeated_triggers_of_one_alert_are_one_page_and_shown() -> None:
    one = result([Alert("bellwether-incident-4", "tier1", 3)])
    assert _incident_problems(by_name("auth"), one) == []
    assert one.paged == "1 page: bellwether-incident-4 on tier1 ×3"
    assert one.to_json()["alerts"] == [{"dedup_key": "bellwether-incident-4",
                                        "routing": "tier1", "triggers": 3}]


def test_paging_off_is_said_instead_of_zero_pages() -> None:
    facts = InstanceFacts(1.0, paging={1: False, 2: False}, subscribers={})
    gap = facts.paging_gap("auth")
    assert gap == "paging is not configured: BELLWETHER_PAGERDUTY_ROUTING_KEY_TIER1 unset"
    assert facts.paging_gap("import") == \
        "paging is not configured: BELLWETHER_PAGERDUTY_ROUTING_KEY_TIER2 unset"
    assert facts.notice_gap() == "no subscribers: notices not measured"
    quiet = result([], [gap, "no subscribers: notices not measured"])
    quiet.notify_s = None
    assert quiet.paged == gap
    assert "0 pages" not in quiet.observed
    assert _incident_problems(by_name("auth"), quiet) == []


def test_a_calm_drill_fails_on_any_trigger() -> None:
    calm = result([Alert("bellwether-incident-9", "tier2", 1)])
    calm.incidents = []
    assert _calm_problems(calm) == ["1 page: bellwether-incident-9 on tier2 where none belong"]


def test_the_interval_comes_from_the_region_s_probes_else_the_server_default() -> None:
    probes = [{"region": "eu", "interval_s": 5, "timeout_s": 3, "enabled": True},
              {"region": "us", "interval_s": 60, "enabled": True}]
    assert facts_from(PAGING, probes, "eu", 99).interval_s == 5.0
    assert facts_from(PAGING, [], "eu", 99).interval_s == 30.0
    assert facts_from(None, [], "eu", 99) == InstanceFacts(99.0)


class FakeApi(RemoteApi):
    """Answers the two questions a drill asks before it starts."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:9", "token")
        self.asked: list[str] = []

    def call(self, method: str, path: str, json: Any = None,
             params: dict[str, str] | None = None) -> Any:
        self.asked.append(path)
        if path == "/api/v1/paging":
            return PAGING
        return {"probes": [{"region": "eu", "interval_s": 2, "timeout_s": 1}]}


def test_a_drill_needs_no_interval_option_and_keeps_it_as_an_override() -> None:
    api = FakeApi()
    drill = Drill(api, ManualClock(NOW), "eu")
    assert drill.interval_s == 2.0
    assert drill.facts.notice_settle_s == 30.0
    assert api.asked == ["/api/v1/paging", "/api/v1/probes"]
    assert Drill(api, ManualClock(NOW), "eu", interval_s=7.0).interval_s == 7.0


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[FlaskClient, str, Any]]:
    url = create_database(tmp_path, "drillapi")
    from core import migrate

    migrate.upgrade(url)
    settings = replace(Settings(), data_dir=tmp_path, database_url=url, http_port=0,
                       secret_key="s", probe_interval_s=15,
                       pagerduty_routing_key_tier1="secret-tier1-key")
    app = create_app(settings, clock=ManualClock(NOW))
    engine = app.extensions["bellwether"].engine
    with session_scope(make_session_factory(engine)) as session:
        user = create_user(session, email="support@example.test", role=Role.SUPPORT, now=NOW)
        token = create_token(session, user, name="drills", now=NOW)
    try:
        yield app.test_client(), token, engine
    finally:
        engine.dispose()
        drop_database(url)


def test_the_server_says_whether_paging_is_configured_never_the_key(
        client: tuple[FlaskClient, str, Any]) -> None:
    api, token, engine = client
    with session_scope(make_session_factory(engine)) as session:
        session.add_all([
            Subscriber(kind="email", address="a@example.test", created_at=NOW,
                       confirmed_at=NOW),
            Subscriber(kind="email", address="b@example.test", created_at=NOW),
            Subscriber(kind="webhook", address="https://x.test/h", created_at=NOW,
                       confirmed_at=NOW, disabled_at=NOW)])
    answer = api.get("/api/v1/paging", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["pagerduty"]["tier1"] == {"configured": True,
                                          "setting": "BELLWETHER_PAGERDUTY_ROUTING_KEY_TIER1"}
    assert body["pagerduty"]["tier2"]["configured"] is False
    assert body["subscribers"] == {"email": 1}
    assert body["probe_interval_s"] == 15
    assert body["notice_settle_s"] == 30.0
    assert "secret-tier1-key" not in answer.get_data(as_text=True)
    assert api.get("/api/v1/paging").status_code == 401


def test_outbox_rows_name_each_page_s_dedup_key_and_tier(
        client: tuple[FlaskClient, str, Any]) -> None:
    api, token, engine = client
    with session_scope(make_session_factory(engine)) as session:
        enqueue(session, [Notice(key="pd:burn-3:trigger:1", channel="pagerduty",
                                 recipient="secret-tier1-key", event_type="page.trigger",
                                 payload={"dedup_key": "bellwether-incident-3"},
                                 ordering_key="incident-3")], NOW)
    answer = api.get("/api/v1/outbox", headers={"Authorization": f"Bearer {token}"})
    rows = answer.get_json()["rows"]
    assert [(r["dedup_key"], r["routing"]) for r in rows] == \
        [("bellwether-incident-3", "tier1")]
    assert "secret-tier1-key" not in answer.get_data(as_text=True)


def test_an_escalation_pages_each_routing_key_once_and_passes() -> None:
    escalated = result([Alert("bellwether-incident-5", "tier2", 1),
                        Alert("bellwether-incident-5-tier1", "tier1", 1)])
    assert _incident_problems(by_name("database"), escalated) == []


def test_a_region_named_incident_counts_for_its_root() -> None:
    whole = result([Alert("bellwether-incident-1", "tier1", 1)])
    whole.incidents = [{"title": "europe-west1.gcp unavailable", "root_component": "auth"}]
    assert _incident_problems(by_name("auth"), whole) == []
    whole.incidents = [{"title": "europe-west1.gcp unavailable", "root_component": "carts"}]
    assert _incident_problems(by_name("auth"), whole) == [
        "the incident is not named after auth"]
