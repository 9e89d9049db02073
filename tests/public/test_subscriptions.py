"""Subscribing, confirming, being notified and unsubscribing, through the real outbox,
dispatcher and a real SMTP server (aiosmtpd) and HTTP receiver on loopback."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from alerts.jobs import dispatch_once
from alerts.models import OutboxRow
from alerts.senders.webhook import verify
from app import create_app
from core import migrate
from core.config import Settings
from core.db import session_scope
from core.runtime import Runtime
from core.scheduler import JobContext
from status.announce import announce, incident_event
from status.models import Incident, IncidentComponent, IncidentUpdate, Subscriber
from tests.support.clock import ManualClock
from tests.support.databases import create_database, drop_database
from tests.support.smtp import SmtpServer, running_smtp
from tests.support.webhooks import LoopbackServer

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
EVIL = "<script>alert(1)</script>"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with running_smtp() as server:
        yield server


@pytest.fixture
def site(tmp_path: Path, smtp: SmtpServer) -> Iterator[Flask]:
    """An app with a database of its own: the dispatcher delivers every outbox row."""
    url = create_database(tmp_path, "subs")
    migrate.upgrade(url)
    settings = replace(Settings(), data_dir=tmp_path, database_url=url, secret_key="test-secret",
                       smtp_url=smtp.url, public_url="http://status.test",
                       extra={"allow_private_webhooks": True})
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


def form_token(client: FlaskClient, path: str = "/subscribe") -> str:
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the form carries a CSRF token"
    return match.group(1)


def open_incident(app: Flask, region: str, component: str = "orders",
                  title: str = "Orders failing") -> int:
    """An incident with its first update, announced in the same transaction."""
    runtime = runtime_of(app)
    with session_scope(runtime.session_factory) as session:
        incident = Incident(title=title, impact="major", status="investigating", origin="auto",
                            opened_at=NOW, updated_at=NOW)
        incident.components.append(IncidentComponent(component=component, region=region,
                                                     state="major_outage",
                                                     first_affected_at=NOW))
        update = IncidentUpdate(status="investigating", body=f"We are looking {EVIL}",
                                created_at=NOW)
        incident.updates.append(update)
        session.add(incident)
        session.flush()
        announce(session, incident_event(incident, update, runtime.settings.effective_public_url),
                 runtime.settings, runtime.clock)
        return incident.id


def body_of(message: EmailMessage, kind: str) -> str:
    part = message.get_body((kind,))
    assert part is not None, f"no {kind} part"
    return str(part.get_content())


def link_in(text: str, path: str) -> str:
    match = re.search(rf"http://status\.test({re.escape(path)}[A-Za-z0-9_.\-]+)", text)
    assert match, f"no {path} link in {text!r}"
    return match.group(1)


def test_email_subscribe_confirm_notify_unsubscribe(site: Flask, smtp: SmtpServer) -> None:
    client = site.test_client()
    answer = client.post("/subscribe", data={
        "csrf_token": form_token(client), "kind": "email", "address": "ada@Example.TEST",
        "regions": ["europe-west1.gcp"]})
    assert answer.status_code == 201
    assert "Check your inbox" in answer.get_data(as_text=True)
    open_incident(site, "europe-west1.gcp")
    assert deliver(site) == 1  # only the confirmation: not confirmed yet, so no notice
    assert [m.rcpt_tos for m in smtp.mails] == [("ada@example.test",)]
    confirmation = smtp.mails[0].message
    confirm_path = link_in(body_of(confirmation, "plain"), "/subscribe/confirm/")
    assert client.get(confirm_path).status_code == 200

    open_incident(site, "europe-west1.gcp", title=f"Carts slow {EVIL}")
    deliver(site)
    notice = smtp.mails[-1].message
    assert notice["Subject"] == f"[investigating] Carts slow {EVIL}"
    html = body_of(notice, "html")
    assert EVIL not in html
    assert "&lt;script&gt;" in html
    assert notice["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    one_click = re.search(r"<http://status\.test(/api/v1/subscribers/unsubscribe/[^>]+)>",
                          notice["List-Unsubscribe"])
    assert one_click
    assert client.post(one_click.group(1)).get_json() == {"unsubscribed": "ada@example.test"}
    before = len(smtp.mails)
    open_incident(site, "europe-west1.gcp")
    deliver(site)
    assert len(smtp.mails) == before


def test_a_subscriber_of_one_region_hears_nothing_of_another(site: Flask,
                                                             smtp: SmtpServer) -> None:
    runtime = runtime_of(site)
    with session_scope(runtime.session_factory) as session:
        for address, region, component in [("eu@x.test", "europe-west1.gcp", ""),
                                           ("us@x.test", "us-central1.gcp", ""),
                                           ("eu-carts@x.test", "europe-west1.gcp", "carts")]:
            subscriber = Subscriber(kind="email", address=address, created_at=NOW,
                                    confirmed_at=NOW)
            subscriber.scopes = []
            session.add(subscriber)
            session.flush()
            from status.models import SubscriberScope
            session.add(SubscriberScope(subscriber_id=subscriber.id, region=region,
                                        component=component))
    open_incident(site, "europe-west1.gcp", component="orders")
    deliver(site)
    assert sorted(m.rcpt_tos[0] for m in smtp.mails) == ["eu@x.test"]
    open_incident(site, "europe-west1.gcp", component="carts")
    deliver(site)
    assert sorted(m.rcpt_tos[0] for m in smtp.mails) == ["eu-carts@x.test", "eu@x.test",
                                                         "eu@x.test"]


def test_no_duplicate_notice_when_an_event_is_announced_twice_or_delivery_reruns(
        site: Flask, smtp: SmtpServer) -> None:
    runtime = runtime_of(site)
    with session_scope(runtime.session_factory) as session:
        session.add(Subscriber(kind="email", address="once@x.test", created_at=NOW,
                               confirmed_at=NOW))
    with session_scope(runtime.session_factory) as session:
        from status.models import SubscriberScope
        subscriber_id = session.scalar(select(Subscriber.id))
        session.add(SubscriberScope(subscriber_id=subscriber_id, region="us-central1.gcp"))
    incident_id = open_incident(site, "us-central1.gcp")
    with session_scope(runtime.session_factory) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        again = announce(session, incident_event(incident, incident.updates[0],
                                                 "http://status.test"), runtime.settings,
                   runtime.clock)
    assert again == 0
    deliver(site)
    deliver(site)
    assert len(smtp.mails) == 1


class Receiver(LoopbackServer):
    """Checks each webhook's signature with the secret it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.secret = ""
        self.received: list[tuple[bool, dict[str, object]]] = []

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers["Content-Length"]))
        good = verify(self.secret, handler.headers["X-Bellwether-Timestamp"], body,
                      handler.headers["X-Bellwether-Signature"])
        self.received.append((good, json.loads(body)))
        handler.send_response(204)
        handler.send_header("Content-Length", "0")
        handler.end_headers()


def test_a_webhook_subscriber_gets_signed_notices(site: Flask) -> None:
    receiver = Receiver()
    receiver.start()
    try:
        client = site.test_client()
        made = client.post("/api/v1/subscribers", json={
            "kind": "webhook", "address": f"{receiver.url}/hook",
            "regions": ["australia-southeast1.gcp"], "components": ["orders"]})
        assert made.status_code == 201
        body = made.get_json()
        assert body["status"] == "active"
        receiver.secret = body["secret"]
        open_incident(site, "australia-southeast1.gcp")
        deliver(site)
    finally:
        receiver.stop()
    assert len(receiver.received) == 1
    good, payload = receiver.received[0]
    assert good
    assert payload["event"] == "incident.opened"


def test_bad_subscriptions_get_clear_errors_and_store_nothing(site: Flask) -> None:
    client = site.test_client()
    cases = [({"kind": "email", "address": "not-an-address", "regions": ["europe-west1.gcp"]},
              "not an email address"),
             ({"kind": "email", "address": "a@b.test", "regions": []}, "at least one region"),
             ({"kind": "email", "address": "a@b.test", "regions": ["mars-1"]}, "unknown region"),
             ({"kind": "webhook", "address": "ftp://x.test/", "regions": ["europe-west1.gcp"]},
              "http:// or https://"),
             ({"kind": "pigeon", "address": "a@b.test", "regions": ["europe-west1.gcp"]},
              "email or webhook")]
    for body, message in cases:
        answer = client.post("/api/v1/subscribers", json=body)
        assert answer.status_code == 400, body
        assert message in answer.get_json()["detail"]
    no_token = client.post("/subscribe", data={"kind": "email", "address": "a@b.test",
                                               "regions": ["europe-west1.gcp"]})
    assert no_token.status_code == 400
    with session_scope(runtime_of(site).session_factory) as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0
        assert session.scalar(select(func.count()).select_from(OutboxRow)) == 0


def test_the_subscribe_endpoint_is_rate_limited_per_client(site: Flask) -> None:
    client = site.test_client()
    answers = [client.post("/api/v1/subscribers", json={
        "kind": "email", "address": f"user{i}@x.test", "regions": ["europe-west1.gcp"]})
        for i in range(11)]
    assert [a.status_code for a in answers[:10]] == [201] * 10
    assert answers[10].status_code == 429
    runtime_of(site).clock.advance(timedelta(hours=1, seconds=1))  # type: ignore[attr-defined]
    assert client.post("/api/v1/subscribers", json={
        "kind": "email", "address": "late@x.test",
        "regions": ["europe-west1.gcp"]}).status_code == 201


def test_links_are_signed_and_confirmation_links_expire(site: Flask) -> None:
    client = site.test_client()
    made = client.post("/api/v1/subscribers", json={
        "kind": "email", "address": "slow@x.test", "regions": ["europe-west1.gcp"]}).get_json()
    assert client.get("/subscribe/confirm/forged-token").status_code == 404
    from status.subscriptions import Links
    links = Links("test-secret", runtime_of(site).clock)
    token = links.make("confirm", made["id"], "slow@x.test")
    manage_token = links.make("manage", made["id"], "slow@x.test")
    assert client.get(f"/subscribe/confirm/{manage_token}").status_code == 404
    assert client.get(f"/subscribe/manage/{manage_token}").status_code == 200
    runtime_of(site).clock.advance(timedelta(hours=49))  # type: ignore[attr-defined]
    expired = client.get(f"/subscribe/confirm/{token}")
    assert expired.status_code == 404
    assert "expired" in expired.get_data(as_text=True)


def test_maintenance_notices_reach_region_and_component_subscribers_once(
        site: Flask, smtp: SmtpServer) -> None:
    from status.maintenance_notices import maintenance_notices
    from status.models import Maintenance, MaintenanceScope, SubscriberScope

    runtime = runtime_of(site)
    clock: ManualClock = runtime.clock  # type: ignore[assignment]
    with session_scope(runtime.session_factory) as session:
        for address, region, component in [("region@x.test", "us-central1.gcp", ""),
                                           ("import@x.test", "us-central1.gcp", "import"),
                                           ("orders@x.test", "us-central1.gcp", "orders"),
                                           ("eu@x.test", "europe-west1.gcp", "")]:
            subscriber = Subscriber(kind="email", address=address, created_at=NOW,
                                    confirmed_at=NOW)
            session.add(subscriber)
            session.flush()
            session.add(SubscriberScope(subscriber_id=subscriber.id, region=region,
                                        component=component))
        window = Maintenance(title="Import upgrade", message="Imports pause", created_at=NOW,
                             starts_at=NOW + timedelta(minutes=30),
                             ends_at=NOW + timedelta(minutes=60))
        window.scopes.append(MaintenanceScope(component="import", region="us-central1.gcp"))
        session.add(window)
    ctx = JobContext(runtime.settings, clock, runtime.session_factory, runtime.parts)
    for minutes in (1, 31, 61, 62):
        clock.advance(NOW + timedelta(minutes=minutes) - clock.now())
        maintenance_notices(ctx)
        deliver(site)
    subjects = sorted((m.rcpt_tos[0], str(m.message["Subject"])) for m in smtp.mails)
    assert subjects == [
        ("import@x.test", "[completed] Import upgrade"),
        ("import@x.test", "[in progress] Import upgrade"),
        ("import@x.test", "[scheduled] Import upgrade"),
        ("region@x.test", "[completed] Import upgrade"),
        ("region@x.test", "[in progress] Import upgrade"),
        ("region@x.test", "[scheduled] Import upgrade"),
    ]


def confirmation_links(smtp: SmtpServer, address: str) -> list[str]:
    return [link_in(body_of(m.message, "plain"), "/subscribe/confirm/") for m in smtp.mails
            if m.rcpt_tos == (address,)]


def subscribe(client: FlaskClient, address: str, region: str = "europe-west1.gcp",
              ) -> tuple[int, dict[str, str]]:
    answer = client.post("/api/v1/subscribers", json={
        "kind": "email", "address": address, "regions": [region]})
    body: dict[str, str] = answer.get_json()
    return answer.status_code, body


def test_subscribing_a_pending_address_again_resends_its_link_at_most_every_ten_minutes(
        site: Flask, smtp: SmtpServer) -> None:
    clock: ManualClock = runtime_of(site).clock  # type: ignore[assignment]
    client = site.test_client()
    assert subscribe(client, "lost@x.test")[0] == 201
    deliver(site)
    status, refused = subscribe(client, "lost@x.test")
    assert (status, refused["error"]) == (429, "confirmation_sent_recently")
    assert "sent to lost@x.test at 12:00 UTC" in refused["detail"]
    assert "ask for a new link in 10 min" in refused["detail"]
    clock.advance(timedelta(minutes=9))
    form = client.post("/subscribe", data={
        "csrf_token": form_token(client), "kind": "email", "address": "lost@x.test",
        "regions": ["us-central1.gcp"]})
    assert form.status_code == 429
    assert "ask for a new link in 1 min" in form.get_data(as_text=True)
    assert deliver(site) == 0
    clock.advance(timedelta(minutes=1))
    again = client.post("/subscribe", data={
        "csrf_token": form_token(client), "kind": "email", "address": "lost@x.test",
        "regions": ["us-central1.gcp"]})
    assert again.status_code == 201
    assert "earlier links keep working" in again.get_data(as_text=True)
    assert deliver(site) == 1
    first, second = confirmation_links(smtp, "lost@x.test")
    assert first != second
    assert "us-central1.gcp" in body_of(smtp.mails[-1].message, "plain")
    assert client.get(first).status_code == 200  # the earlier link still confirms
    assert client.get(second).status_code == 200
    with session_scope(runtime_of(site).session_factory) as session:
        rows = session.scalars(select(Subscriber).where(Subscriber.address == "lost@x.test"))
        [row] = list(rows)
        assert row.confirmed_at is not None
        assert [(s.region, s.component) for s in row.scopes] == [("us-central1.gcp", "")]
    status, done = subscribe(client, "lost@x.test")
    assert status == 400
    assert "subscribed already" in done["detail"]


def test_an_expired_link_does_not_lock_the_address_out(site: Flask, smtp: SmtpServer) -> None:
    clock: ManualClock = runtime_of(site).clock  # type: ignore[assignment]
    client = site.test_client()
    assert subscribe(client, "late@x.test")[0] == 201
    deliver(site)
    clock.advance(timedelta(hours=49))
    [expired] = confirmation_links(smtp, "late@x.test")
    assert "expired" in client.get(expired).get_data(as_text=True)
    assert subscribe(client, "late@x.test")[0] == 201
    deliver(site)
    fresh = confirmation_links(smtp, "late@x.test")[-1]
    assert client.get(fresh).status_code == 200
    open_incident(site, "europe-west1.gcp")
    deliver(site)
    assert str(smtp.mails[-1].message["Subject"]) == "[investigating] Orders failing"


@pytest.fixture
def strict_site(site: Flask) -> Iterator[Flask]:
    """The same database, with the default `allow_private_webhooks` (off)."""
    runtime = runtime_of(site)
    app = create_app(replace(runtime.settings, extra={}), clock=runtime.clock)
    yield app
    runtime_of(app).engine.dispose()


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "https://localhost/hook",
                                 "http://10.1.2.3/hook", "http://[::1]:9000/",
                                 "http://169.254.169.254/latest/meta-data",
                                 "http://192.168.0.10/hook"])
def test_a_webhook_to_a_private_address_is_refused_when_subscribing(
        strict_site: Flask, url: str) -> None:
    client = strict_site.test_client()
    answer = client.post("/api/v1/subscribers", json={
        "kind": "webhook", "address": url, "regions": ["europe-west1.gcp"]})
    assert answer.status_code == 400
    assert answer.get_json()["error"] == "invalid_subscription"
    assert "private or loopback address" in answer.get_json()["detail"]
    form = client.post("/subscribe", data={
        "csrf_token": form_token(client), "kind": "webhook", "address": url,
        "regions": ["europe-west1.gcp"]})
    page = form.get_data(as_text=True)
    assert form.status_code == 400
    assert "Webhook subscribed" not in page
    assert "private or loopback address" in page
    with session_scope(runtime_of(strict_site).session_factory) as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_a_webhook_to_a_public_address_is_accepted(strict_site: Flask) -> None:
    answer = strict_site.test_client().post("/api/v1/subscribers", json={
        "kind": "webhook", "address": "https://93.184.215.14/hook",
        "regions": ["europe-west1.gcp"]})
    assert answer.status_code == 201
    assert answer.get_json()["status"] == "active"


def manage_link(message: EmailMessage) -> str:
    """The manage link of an email: the same in its text and its HTML."""
    path = link_in(body_of(message, "plain"), "/subscribe/manage/")
    assert f'href="http://status.test{path}"' in body_of(message, "html")
    return path


def change_scopes(client: FlaskClient, path: str, regions: list[str],
                  components: list[str]) -> str:
    answer = client.post(path, data={"csrf_token": form_token(client, path),
                                      "regions": regions, "components": components})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    html = answer.get_data(as_text=True)
    assert "Saved." in html
    return html


def ticked(html: str) -> set[tuple[str, str]]:
    return set(re.findall(r'name="(regions|components)" value="([^"]+)" checked', html))


def scopes_of(app: Flask, address: str) -> set[tuple[str, str]]:
    from status.models import SubscriberScope

    with session_scope(runtime_of(app).session_factory) as session:
        rows = session.execute(
            select(SubscriberScope.region, SubscriberScope.component)
            .join(Subscriber, Subscriber.id == SubscriberScope.subscriber_id)
            .where(Subscriber.address == address)).all()
    return {(region, component) for region, component in rows}


def test_the_manage_link_of_every_email_changes_regions_and_components(
        site: Flask, smtp: SmtpServer) -> None:
    """Confirmation, incident and maintenance emails each carry a manage link; following it
    changes both the regions and the components, and the next notices follow the change."""
    from status.maintenance_notices import maintenance_notices
    from status.models import Maintenance, MaintenanceScope

    runtime = runtime_of(site)
    clock: ManualClock = runtime.clock  # type: ignore[assignment]
    client = site.test_client()
    us, eu, au = "us-central1.gcp", "europe-west1.gcp", "australia-southeast1.gcp"
    client.post("/subscribe", data={"csrf_token": form_token(client), "kind": "email",
                                    "address": "kim@x.test", "regions": [eu]})
    deliver(site)
    confirmation = smtp.mails[-1].message
    # From the confirmation, before confirming: two regions, two components.
    change_scopes(client, manage_link(confirmation), [us, au], ["orders", "carts"])
    assert scopes_of(site, "kim@x.test") == {(r, c) for r in (us, au)
                                             for c in ("orders", "carts")}
    assert client.get(link_in(body_of(confirmation, "plain"),
                              "/subscribe/confirm/")).status_code == 200
    open_incident(site, eu, "orders", title="Europe orders")
    open_incident(site, us, "orders", title="US orders")
    deliver(site)
    incident = smtp.mails[-1].message
    assert incident["Subject"] == "[investigating] US orders"  # not Europe's
    # From the incident notice: one other region, one other component.
    path = manage_link(incident)
    assert ticked(client.get(path).get_data(as_text=True)) == {
        ("regions", us), ("regions", au), ("components", "orders"), ("components", "carts")}
    html = change_scopes(client, path, [eu], ["import"])
    assert ticked(html) == {("regions", eu), ("components", "import")}
    assert scopes_of(site, "kim@x.test") == {(eu, "import")}
    with session_scope(runtime.session_factory) as session:
        window = Maintenance(title="Import upgrade", message="Imports pause", created_at=NOW,
                             starts_at=NOW + timedelta(minutes=30),
                             ends_at=NOW + timedelta(minutes=60))
        window.scopes.append(MaintenanceScope(component="import", region=eu))
        session.add(window)
    clock.advance(timedelta(minutes=1))
    maintenance_notices(JobContext(runtime.settings, clock, runtime.session_factory,
                                   runtime.parts))
    deliver(site)
    maintenance = smtp.mails[-1].message
    assert maintenance["Subject"] == "[scheduled] Import upgrade"
    # From the maintenance notice: a whole region again (no component ticked: all of them).
    change_scopes(client, manage_link(maintenance), [au], [])
    assert scopes_of(site, "kim@x.test") == {(au, "")}
    before = len(smtp.mails)
    open_incident(site, eu, "import", title="Europe import")
    open_incident(site, au, "search", title="Australia search")
    deliver(site)
    assert [str(m.message["Subject"]) for m in smtp.mails[before:]] == [
        "[investigating] Australia search"]
