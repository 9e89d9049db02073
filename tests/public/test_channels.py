"""Channels through Apprise: subscribing a Slack, Teams, Discord or ntfy channel, confirming
from the message posted there, and hearing an incident in order, once, through the real
outbox and dispatcher. The services are loopback stand-ins that answer as the real ones do.

Apprise sends Slack and Discord webhooks to their fixed public hosts (hooks.slack.com,
discord.com): it has no option for another host, so these tests move the plugins' endpoint
constants to the stand-in (the one patched seam). Teams (Apprise's `workflows://`, Power
Automate's incoming webhook) and ntfy name their host in the URL, so they reach the
stand-in as configured; Teams speaks only https, verified against the test's certificate.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest
from apprise.plugins.discord import NotifyDiscord
from apprise.plugins.slack import NotifySlack
from flask import Flask
from sqlalchemy import func, select, update

from alerts.jobs import dispatch_once
from alerts.models import OutboxRow
from alerts.outbox import NOTICE_LANE, PAGE_LANE
from alerts.senders import Delivery, DeliveryError, build_senders
from alerts.senders.channel import AppriseSender
from alerts.senders.local import RecordingSender
from app import create_app
from core import migrate
from core.config import Settings, load_settings
from core.db import session_scope
from core.errors import ConfigError
from core.runtime import Runtime
from core.scheduler import JobContext
from status import store
from status.announce import announce, incident_event
from status.models import Incident, IncidentComponent, IncidentUpdate, Subscriber
from tests.support.clock import ManualClock
from tests.support.databases import create_database, drop_database
from tests.support.tls import self_signed
from tests.support.webhooks import LoopbackServer, read_body

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
REGION = "europe-west1.gcp"
CONFIRM = re.compile(r"http://status\.test(/subscribe/confirm/[A-Za-z0-9_.\-]+)")


@dataclass(frozen=True)
class Message:
    """One call a stand-in received: its path and body, and all the text in it."""

    path: str
    body: bytes
    text: str


def all_text(value: Any) -> str:
    """Every string in a JSON document, joined (titles, card blocks, embeds …)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "\n".join(all_text(v) for v in value.values())
    if isinstance(value, list):
        return "\n".join(all_text(v) for v in value)
    return ""


class ServiceStandIn(LoopbackServer):
    """Answers as the service does: Slack `200 ok`, Discord `204`, Teams workflows `202`,
    ntfy `200` with the published message; records every call."""

    ANSWERS: ClassVar[dict[str, tuple[int, bytes, str]]] = {
        "slack": (200, b"ok", "text/plain"), "discord": (204, b"", ""), "teams": (202, b"", ""),
        "ntfy": (200, b'{"id":"x1","event":"message"}', "application/json")}

    def __init__(self, service: str, cert: Path | None = None, key: Path | None = None) -> None:
        super().__init__(cert, key)
        self.service = service
        self.messages: list[Message] = []
        self._lock = threading.Lock()

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = read_body(handler)
        try:
            text = all_text(json.loads(body))
        except ValueError:
            text = body.decode(errors="replace")
        with self._lock:
            self.messages.append(Message(handler.path, body, text))
        status, answer, kind = self.ANSWERS[self.service]
        handler.send_response(status)
        if kind:
            handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(answer)))
        handler.end_headers()
        handler.wfile.write(answer)


@pytest.fixture
def stand_ins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
              ) -> Iterator[dict[str, tuple[ServiceStandIn, str]]]:
    """Each service's stand-in and the Apprise URL a customer would give for it."""
    cert, key = self_signed(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))  # Teams' https, verified
    servers = {"slack": ServiceStandIn("slack"), "discord": ServiceStandIn("discord"),
               "teams": ServiceStandIn("teams", cert, key), "ntfy": ServiceStandIn("ntfy")}
    for server in servers.values():
        server.start()
    monkeypatch.setattr(NotifySlack, "webhook_url",
                        f"{servers['slack'].url}/services")
    monkeypatch.setattr(NotifyDiscord, "notify_url",
                        f"{servers['discord'].url}/api/webhooks")
    urls = {"slack": "slack://T1ABCDEFG/B2ABCDEFG/abcdefghijklmnopqrstuvwx",
            "discord": "discord://123456789012345678/abcdefghijklmnopqrstuvwxyz0123456789",
            "teams": f"workflows://127.0.0.1:{servers['teams'].port}/wf0123/sig0123",
            "ntfy": f"ntfy://127.0.0.1:{servers['ntfy'].port}/bellwether-status"}
    yield {name: (servers[name], urls[name]) for name in servers}
    for server in servers.values():
        server.stop()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Flask]:
    url = create_database(tmp_path, "channels")
    migrate.upgrade(url)
    settings = replace(Settings(), data_dir=tmp_path, database_url=url, secret_key="test-secret",
                       public_url="http://status.test", extra={"allow_private_webhooks": True})
    app = create_app(settings, clock=ManualClock(NOW))
    yield app
    app.extensions["bellwether"].engine.dispose()
    drop_database(url)


def runtime_of(app: Flask) -> Runtime:
    runtime: Runtime = app.extensions["bellwether"]
    return runtime


def deliver(app: Flask) -> int:
    runtime = runtime_of(app)
    ctx = JobContext(runtime.settings, runtime.clock, runtime.session_factory, runtime.parts)
    total = 0
    while done := dispatch_once(ctx):
        total += done
    return total


def add_update(app: Flask, incident_id: int | None, status: str, body: str) -> int:
    """Open an incident (None) or post an update to one, announcing it in the same
    transaction, as the incident job and the admin do."""
    runtime = runtime_of(app)
    clock = runtime.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(minutes=1))
    with session_scope(runtime.session_factory) as session:
        if incident_id is None:
            incident = Incident(title="Orders failing", impact="major", status=status,
                                origin="automatic", opened_at=clock.now(),
                                updated_at=clock.now())
            incident.components.append(IncidentComponent(
                component="orders", region=REGION, state="major_outage",
                first_affected_at=clock.now()))
            session.add(incident)
        else:
            found = session.get(Incident, incident_id)
            assert found is not None
            incident = found
        incident.status = status
        if status == "resolved":
            incident.resolved_at = clock.now()
        update = IncidentUpdate(status=status, body=body, created_at=clock.now())
        incident.updates.append(update)
        session.flush()
        announce(session, incident_event(incident, update, runtime.settings.effective_public_url),
                 runtime.settings, runtime.clock)
        return incident.id


def test_each_channel_confirms_then_hears_an_incident_in_order_once(
        site: Flask, stand_ins: dict[str, tuple[ServiceStandIn, str]]) -> None:
    client = site.test_client()
    for _, url in stand_ins.values():
        made = client.post("/api/v1/subscribers", json={
            "kind": "apprise", "address": url, "regions": [REGION], "components": ["orders"]})
        assert made.status_code == 201, made.get_json()
        assert made.get_json()["status"] == "pending_confirmation"
        assert made.get_json()["kind"] == "apprise"
    deliver(site)
    # Pending channels hear nothing of an incident before they confirm.
    incident = add_update(site, None, "investigating", "Checkout answers 503")
    for name, (server, _) in stand_ins.items():
        assert len(server.messages) == 1, name
        link = CONFIRM.search(server.messages[0].text)
        assert link, f"{name}: no confirmation link in {server.messages[0].text!r}"
        assert "Confirm your status subscription" in server.messages[0].text
        assert client.get(link.group(1)).status_code == 200
    add_update(site, incident, "identified", "A bad deploy; rolling back")
    deliver(site)
    add_update(site, incident, "monitoring", "Rolled back, watching")
    add_update(site, incident, "resolved", "Orders are flowing again")
    deliver(site)
    # Announcing an event again and running the dispatcher again change nothing.
    with session_scope(runtime_of(site).session_factory) as session:
        found = session.get(Incident, incident)
        assert found is not None
        runtime = runtime_of(site)
        assert announce(session, incident_event(found, found.updates[-1],
                                                runtime.settings.effective_public_url),
                        runtime.settings, runtime.clock) == 0
    assert deliver(site) == 0
    expected = ["A bad deploy", "Rolled back, watching", "Orders are flowing again"]
    for name, (server, _) in stand_ins.items():
        heard = [m.text for m in server.messages[1:]]
        assert [next(e for e in expected if e in t) for t in heard] == expected, name
        assert all("/subscribe/unsubscribe/" in t for t in heard), name
        assert all("Orders failing" in t for t in heard), name
    slack, discord, teams, ntfy = (stand_ins[n][0].messages for n in
                                   ("slack", "discord", "teams", "ntfy"))
    assert {m.path for m in slack} == {"/services/T1ABCDEFG/B2ABCDEFG/abcdefghijklmnopqrstuvwx"}
    assert all("attachments" in json.loads(m.body) or "blocks" in json.loads(m.body)
               for m in slack)
    assert {m.path.split("?")[0] for m in discord} == {
        "/api/webhooks/123456789012345678/abcdefghijklmnopqrstuvwxyz0123456789"}
    assert all("content" in json.loads(m.body) or "embeds" in json.loads(m.body)
               for m in discord)
    assert all(json.loads(m.body)["attachments"][0]["contentType"]
               == "application/vnd.microsoft.card.adaptive" for m in teams)
    assert all(m.path.startswith("/workflows/wf0123/triggers/manual/paths/invoke") for m in teams)
    assert all(json.loads(m.body)["topic"] == "bellwether-status" for m in ntfy)
    with session_scope(runtime_of(site).session_factory) as session:
        rows = session.execute(select(OutboxRow.status, OutboxRow.priority, func.count())
                               .where(OutboxRow.channel == "apprise")
                               .group_by(OutboxRow.status, OutboxRow.priority)).all()
    assert rows == [("delivered", NOTICE_LANE, 16)]


def test_links_name_a_channel_by_digest_and_pages_mask_its_secrets(
        site: Flask, stand_ins: dict[str, tuple[ServiceStandIn, str]]) -> None:
    client = site.test_client()
    server, url = stand_ins["slack"]
    made = client.post("/api/v1/subscribers", json={"kind": "apprise", "address": url,
                                                    "regions": [REGION]})
    assert "abcdefghijklmnopqrstuvwx" not in made.get_json()["address"]
    deliver(site)
    link = CONFIRM.search(server.messages[0].text)
    assert link
    token_payload = link.group(1).rsplit("/", 1)[1].split(".")[0]
    decoded = base64.urlsafe_b64decode(token_payload + "==")
    assert b"abcdefghijklmnopqrstuvwx" not in decoded
    assert b"apprise:sha256:" in decoded
    page = client.get(link.group(1)).get_data(as_text=True)
    assert "abcdefghijklmnopqrstuvwx" not in page
    assert "slack://" in page


def test_a_channel_on_a_private_host_is_refused_unless_allowed(site: Flask) -> None:
    runtime = runtime_of(site)
    strict = create_app(replace(runtime.settings, extra={}), clock=runtime.clock)
    try:
        client = strict.test_client()
        refused = client.post("/api/v1/subscribers", json={
            "kind": "apprise", "address": "ntfy://127.0.0.1:9/topic", "regions": [REGION]})
        assert refused.status_code == 400
        assert "private or loopback" in refused.get_json()["detail"]
        bad = client.post("/api/v1/subscribers", json={
            "kind": "apprise", "address": "nosuchservice://x/y", "regions": [REGION]})
        assert bad.status_code == 400
        assert "Apprise URL" in bad.get_json()["detail"]
        with session_scope(runtime.session_factory) as session:
            assert session.scalar(select(func.count()).select_from(Subscriber)) == 0
    finally:
        strict.extensions["bellwether"].engine.dispose()
    delivery = Delivery(id=1, key="k", channel="apprise", recipient="ntfy://127.0.0.1:9/t",
                        event_type="incident.opened", payload={"title": "t", "body": "b"})
    with pytest.raises(DeliveryError) as refused_at_send:
        AppriseSender(allow_private=False).send(delivery)
    assert refused_at_send.value.permanent
    assert "private address 127.0.0.1" in refused_at_send.value.message


def test_a_failing_channel_is_retried_with_the_reason_apprise_gave(site: Flask) -> None:
    delivery = Delivery(id=1, key="k", channel="apprise", recipient="ntfy://127.0.0.1:9/t",
                        event_type="incident.opened", payload={"title": "t", "body": "b"})
    with pytest.raises(DeliveryError) as failed:
        AppriseSender(allow_private=True).send(delivery)  # nothing listens on port 9
    assert not failed.value.permanent
    assert failed.value.recipient_fault
    assert failed.value.message.startswith("ntfy refused: ")
    assert failed.value.message != "ntfy refused: no reason given"


def test_on_call_channels_hear_each_page_trigger_and_resolve_in_the_page_lane(
        site: Flask, stand_ins: dict[str, tuple[ServiceStandIn, str]]) -> None:
    ntfy, ntfy_url = stand_ins["ntfy"]
    slack, slack_url = stand_ins["slack"]
    runtime = runtime_of(site)
    settings = replace(runtime.settings, pagerduty_routing_key_tier1="K1",
                       pagerduty_routing_key_tier2="K2",
                       escalation_channels_tier1=(ntfy_url,),
                       escalation_channels_tier2=(slack_url,))
    pager = RecordingSender()
    runtime.parts["senders"] = {**build_senders(settings, runtime.clock), "pagerduty": pager}
    incident_id = add_update(site, None, "investigating", "Checkout answers 503")
    with session_scope(runtime.session_factory) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        tier = store.incident_page(incident, settings).tier
        assert store.page(session, incident, "trigger", 1, settings, runtime.clock.now()) == 2
    deliver(site)
    with session_scope(runtime.session_factory) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        assert store.page(session, incident, "resolve", 1, settings, runtime.clock.now()) == 2
        assert store.page(session, incident, "resolve", 1, settings, runtime.clock.now()) == 0
    deliver(site)
    assert deliver(site) == 0
    heard, quiet = (ntfy, slack) if tier == 1 else (slack, ntfy)
    assert quiet.messages == []
    texts = [m.text for m in heard.messages]
    assert len(texts) == 2
    assert "[PAGE] Orders failing" in texts[0]
    assert "[resolved] Orders failing" in texts[1]
    assert [d.payload["action"] for d in pager.sent] == ["trigger", "resolve"]
    with session_scope(runtime.session_factory) as session:
        rows = session.execute(select(OutboxRow.channel, OutboxRow.priority, OutboxRow.status)
                               .where(OutboxRow.channel.in_(("pagerduty", "apprise_page")))
                               .order_by(OutboxRow.id)).all()
    assert rows == [("pagerduty", PAGE_LANE, "delivered"), ("apprise_page", PAGE_LANE, "delivered"),
                    ("pagerduty", PAGE_LANE, "delivered"), ("apprise_page", PAGE_LANE, "delivered")]


def form_token(client: Any) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"',
                      client.get("/subscribe").get_data(as_text=True))
    assert match, "the form carries a CSRF token"
    return match.group(1)


def test_the_form_subscribes_a_channel_and_its_unsubscribe_link_stops_the_notices(
        site: Flask, stand_ins: dict[str, tuple[ServiceStandIn, str]]) -> None:
    server, url = stand_ins["ntfy"]
    client = site.test_client()
    form = client.get("/subscribe").get_data(as_text=True)
    assert 'value="apprise"' in form
    answer = client.post("/subscribe", data={
        "csrf_token": form_token(client), "kind": "apprise", "address": url,
        "regions": [REGION]})
    assert answer.status_code == 201
    assert "Check your channel" in answer.get_data(as_text=True)
    deliver(site)
    confirm = CONFIRM.search(server.messages[0].text)
    assert confirm
    assert client.get(confirm.group(1)).status_code == 200
    incident = add_update(site, None, "investigating", "Checkout answers 503")
    deliver(site)
    assert len(server.messages) == 2
    leave = re.search(r"http://status\.test(/subscribe/unsubscribe/[A-Za-z0-9_.\-]+)",
                      server.messages[1].text)
    assert leave
    done = client.post(leave.group(1), data={"csrf_token": form_token(client)})
    assert done.status_code == 200
    assert "bellwether-status" in done.get_data(as_text=True)
    add_update(site, incident, "resolved", "Orders are flowing again")
    deliver(site)
    assert len(server.messages) == 2


def test_escalation_channels_are_read_from_the_file_and_the_environment(
        tmp_path: Path) -> None:
    config = tmp_path / "bellwether.toml"
    config.write_text('escalation_channels_tier1 = ["ntfy://ntfy.example/oncall", '
                      '"slack://T1ABCDEFG/B2ABCDEFG/abcdefghijklmnopqrstuvwx"]\n')
    settings = load_settings({}, config)
    assert settings.escalation_channels_tier1 == (
        "ntfy://ntfy.example/oncall", "slack://T1ABCDEFG/B2ABCDEFG/abcdefghijklmnopqrstuvwx")
    assert settings.escalation_channels_tier2 == ()
    from_env = load_settings({"BELLWETHER_ESCALATION_CHANNELS_TIER2": "ntfy://a.example/x"},
                             config)
    assert from_env.escalation_channels_tier2 == ("ntfy://a.example/x",)
    with pytest.raises(ConfigError, match="not an Apprise URL"):
        load_settings({"BELLWETHER_ESCALATION_CHANNELS_TIER1": "nosuch://x"})


class Redirecting(LoopbackServer):
    """Answers every call with a redirect to `target`."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target
        self.calls = 0

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        read_body(handler)
        self.calls += 1
        handler.send_response(307)
        handler.send_header("Location", self.target)
        handler.send_header("Content-Length", "0")
        handler.end_headers()


def test_a_channel_never_follows_a_redirect(
        stand_ins: dict[str, tuple[ServiceStandIn, str]]) -> None:
    ntfy, _ = stand_ins["ntfy"]
    redirecting = Redirecting(f"{ntfy.url}/elsewhere")
    redirecting.start()
    try:
        delivery = Delivery(id=1, key="k", channel="apprise",
                            recipient=f"json://127.0.0.1:{redirecting.port}/hook",
                            event_type="incident.opened", payload={"title": "t", "body": "b"})
        with pytest.raises(DeliveryError) as failed:
            AppriseSender(allow_private=True).send(delivery)
    finally:
        redirecting.stop()
    assert redirecting.calls == 1
    assert ntfy.messages == []
    assert "307" in failed.value.message


def outbox_rows(app: Flask) -> list[tuple[str, str, str]]:
    """(channel, event type, status) of the page lane's rows, in order."""
    with session_scope(runtime_of(app).session_factory) as session:
        return [(r.channel, r.event_type, r.status) for r in session.execute(
            select(OutboxRow.channel, OutboxRow.event_type, OutboxRow.status)
            .where(OutboxRow.priority == PAGE_LANE).order_by(OutboxRow.id))]


@pytest.mark.parametrize(("sent", "retriggered"), [
    ((), []),
    (("apprise_page",), ["apprise_page"]),
    (("pagerduty",), ["pagerduty"]),
    (("pagerduty", "apprise_page"), ["apprise_page", "pagerduty"]),
])
def test_a_reopened_incident_re_triggers_each_channel_that_was_told_it_resolved(
        site: Flask, sent: tuple[str, ...], retriggered: list[str]) -> None:
    runtime = runtime_of(site)
    settings = replace(runtime.settings, pagerduty_routing_key_tier1="K1",
                       pagerduty_routing_key_tier2="K2",
                       escalation_channels_tier1=("ntfy://ntfy.example/oncall",),
                       escalation_channels_tier2=("ntfy://ntfy.example/oncall",))
    incident_id = add_update(site, None, "investigating", "Checkout answers 503")
    now = runtime.clock.now()
    with session_scope(runtime.session_factory) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        store.page(session, incident, "trigger", 1, settings, now)
        store.page(session, incident, "resolve", 1, settings, now)
        # The triggers went out; of the resolves, only the channels in `sent` did.
        session.execute(update(OutboxRow).where(
            OutboxRow.event_type == "page.trigger").values(status="delivered", attempts=1))
        session.execute(update(OutboxRow).where(
            OutboxRow.event_type == "page.resolve", OutboxRow.channel.in_(sent))
            .values(status="delivered", attempts=1))
    with session_scope(runtime.session_factory) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        assert store.reopen_pages(session, incident, 2, settings, now) == len(retriggered)
    rows = outbox_rows(site)
    assert [c for c, e, _ in rows[4:]] == retriggered
    assert all(e == "page.trigger" and s == "pending" for _, e, s in rows[4:])
    withdrawn = [c for c, e, s in rows[:4] if e == "page.resolve" and s not in
                 ("pending", "delivered")]
    assert sorted(withdrawn) == sorted({"pagerduty", "apprise_page"} - set(sent))
