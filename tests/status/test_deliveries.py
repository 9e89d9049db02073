"""Admins see failing webhooks and dead notices; support reads the outbox through the API."""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient
from sqlalchemy import Engine

from alerts.outbox import Notice, enqueue
from core.db import make_session_factory, session_scope
from core.models import Role
from status.models import Subscriber
from tests.status.conftest import START, log_in


def test_admins_see_failing_webhooks_and_others_do_not(
        api: FlaskClient, app_engine: Engine,
        make_user: Callable[[Role], tuple[int, str, str]]) -> None:
    with session_scope(make_session_factory(app_engine)) as session:
        session.add(Subscriber(kind="webhook", address="https://hooks.example.test/<b>x</b>",
                               created_at=START, confirmed_at=START, consecutive_failures=12,
                               disabled_at=START, last_error="HTTP 500 from receiver"))
    admin_id, _, _ = make_user(Role.ADMIN)
    support_id, _, _ = make_user(Role.SUPPORT)
    log_in(api, support_id)
    assert api.get("/admin/deliveries").status_code == 403
    log_in(api, admin_id)
    page = api.get("/admin/deliveries").get_data(as_text=True)
    assert "https://hooks.example.test/&lt;b&gt;x&lt;/b&gt;" in page
    assert "HTTP 500 from receiver" in page


def test_support_reads_the_outbox_with_filters(
        api: FlaskClient, app_engine: Engine,
        make_user: Callable[[Role], tuple[int, str, str]]) -> None:
    with session_scope(make_session_factory(app_engine)) as session:
        enqueue(session, [Notice(key="pd:incident-991:trigger:1", channel="pagerduty",
                                 recipient="key", event_type="page.trigger",
                                 ordering_key="incident-991")], START)
    _, _, support = make_user(Role.SUPPORT)
    _, _, manager = make_user(Role.ACCOUNT_MANAGER)
    bearer = {"Authorization": f"Bearer {support}"}
    rows = api.get("/api/v1/outbox?channel=pagerduty", headers=bearer).get_json()["rows"]
    assert any(r["key"] == "pd:incident-991:trigger:1" and r["status"] == "pending"
               for r in rows)
    assert api.get("/api/v1/outbox?status=lost", headers=bearer).status_code == 400
    assert api.get("/api/v1/outbox?since=yesterday", headers=bearer).status_code == 400
    assert api.get("/api/v1/outbox", headers={
        "Authorization": f"Bearer {manager}"}).status_code == 403
