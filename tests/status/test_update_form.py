"""The incident update form (issue 12): the declaration's picker (regions, tiers, single
components) preselected from the incident and what fails live, update templates, and the
preview of what subscribers will receive, rendered by the real notice code and equal to
what posting then puts in the outbox; a preview changes nothing."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select

from alerts.models import OutboxRow
from core.db import make_session_factory, session_scope
from core.models import Role
from probes.models import ComponentState
from status.models import Incident, IncidentUpdate, Subscriber, SubscriberScope
from tests.status.conftest import AU, EU, START, US, log_in
from tests.support.clock import ManualClock
from tests.support.databases import create_database, drop_database

User = Callable[[Role], tuple[int, str, str]]
TITLE = "Checkout & orders <failing>"


@pytest.fixture
def module_url(tmp_path: Path) -> Iterator[str]:
    """A database per test: subscribers, live states and the outbox are this test's."""
    from core import migrate

    url = create_database(tmp_path, "updateform")
    migrate.upgrade(url)
    yield url
    drop_database(url)


@pytest.fixture
def csrf(api: FlaskClient, make_user: User) -> str:
    return log_in(api, make_user(Role.SUPPORT)[0])


def subscribe(engine: Engine, address: str, region: str) -> None:
    with session_scope(make_session_factory(engine)) as session:
        session.add(Subscriber(kind="email", address=address, created_at=START,
                               confirmed_at=START,
                               scopes=[SubscriberScope(region=region, component="")]))


def failing_live(engine: Engine, component: str, region: str, state: str) -> None:
    with session_scope(make_session_factory(engine)) as session:
        session.add(ComponentState(component=component, region=region, state=state,
                                   since=START, evaluated_at=START))


def count(engine: Engine, model: type[Any]) -> int:
    with session_scope(make_session_factory(engine)) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def emails(engine: Engine) -> list[dict[str, Any]]:
    with session_scope(make_session_factory(engine)) as session:
        return [dict(row.payload, recipient=row.recipient) for row in session.scalars(
            select(OutboxRow).where(OutboxRow.channel == "email").order_by(OutboxRow.id))]


def shown(page: str, css: str, tag: str) -> str:
    found = re.search(rf'<{tag} class="{css}">(.*?)</{tag}>', page, re.S)
    assert found, f"no {css} in the page"
    return html.unescape(found.group(1))


def personal(text: str) -> str:
    """The text with each subscriber's own links (and a new incident's number) blanked."""
    text = re.sub(r"/subscribe/(manage|unsubscribe)/\S+", r"/subscribe/\1/TOKEN", text)
    return re.sub(r"/incidents/\S+", "/incidents/N", text)


def declaration(csrf: str, **fields: str) -> dict[str, str]:
    return {"csrf_token": csrf, "title": TITLE, "impact": "major", "status": "investigating",
            "message": "Orders fail & we are on it.", f"region-{EU}": "partial_outage",
            **fields}


def declare(api: FlaskClient, csrf: str, **fields: str) -> int:
    answer = api.post("/admin/incidents", data=declaration(csrf, action="declare", **fields))
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return int(answer.headers["Location"].rsplit("/", 1)[1])


def selected(page: str, field: str) -> str | None:
    """The selected option of the select named `field`, or None."""
    block = re.search(rf'<select id="[^"]*" name="{re.escape(field)}">(.*?)</select>', page,
                      re.S)
    assert block, field
    chosen = re.search(r'<option value="([^"]*)" selected>', block.group(1))
    return chosen.group(1) if chosen else None


def test_the_declaration_preview_is_what_declaring_then_sends_and_changes_nothing(
        api: FlaskClient, csrf: str, app_engine: Engine) -> None:
    subscribe(app_engine, "eu@example.test", EU)
    subscribe(app_engine, "us@example.test", US)
    answer = api.post("/admin/incidents", data=declaration(csrf, action="preview"))
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert (count(app_engine, Incident), count(app_engine, OutboxRow)) == (0, 0)
    assert "What subscribers will receive" in page
    assert "Recipients now: 1 email." in page  # the US subscriber hears nothing of EU
    assert "Goes out at once when you declare" in page
    assert f"It names auth ({EU}), products ({EU})," in page
    assert f'value="{html.escape(TITLE)}"' in page  # the input is kept for posting
    subject, text = shown(page, "preview-subject", "strong"), shown(page, "preview-text", "pre")
    assert subject == f"[investigating] {TITLE}"
    declare(api, csrf)
    [sent] = emails(app_engine)
    assert sent["recipient"] == "eu@example.test"
    assert sent["subject"] == subject
    assert personal(sent["text"]) == personal(text)
    assert text.startswith(f"{TITLE}\nStatus: investigating (2026-10-01 12:00 UTC)")


def test_the_update_preview_is_what_posting_then_sends(
        api: FlaskClient, csrf: str, app_engine: Engine, clock: ManualClock) -> None:
    subscribe(app_engine, "eu@example.test", EU)
    subscribe(app_engine, "au@example.test", AU)
    incident_id = declare(api, csrf)
    before = emails(app_engine)
    clock.advance(timedelta(minutes=3))
    form = {"csrf_token": csrf, "status": "identified", "body": "Cause: a bad <deploy>.",
            "impact": "critical", "edit_components": "1", f"region-{EU}": "major_outage",
            f"state-search-{AU}": "degraded_performance"}
    answer = api.post(f"/admin/incidents/{incident_id}/updates",
                      data={**form, "action": "preview"})
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert emails(app_engine) == before
    with session_scope(make_session_factory(app_engine)) as session:
        assert session.scalar(select(func.count()).select_from(IncidentUpdate)) == 1
    assert "Recipients now: 2 emails." in page
    assert f"search ({AU})" in page
    assert "Goes out at once when you post it." in page
    text = shown(page, "preview-text", "pre")
    assert api.post(f"/admin/incidents/{incident_id}/updates",
                    data={**form, "action": "post"}).status_code == 303
    sent = emails(app_engine)[len(before):]
    assert sorted(e["recipient"] for e in sent) == ["au@example.test", "eu@example.test"]
    for email in sent:
        assert personal(email["text"]) == personal(text)
        assert email["subject"] == f"[identified] {TITLE}"


def test_the_update_picker_starts_from_the_incident_and_what_fails_live(
        api: FlaskClient, csrf: str, app_engine: Engine) -> None:
    incident_id = declare(api, csrf, **{f"state-carts-{EU}": "not_affected"})
    failing_live(app_engine, "search", AU, "major_outage")
    failing_live(app_engine, "orders", US, "operational")
    page = api.get(f"/admin/incidents/{incident_id}").get_data(as_text=True)
    assert selected(page, f"state-orders-{EU}") == "partial_outage"
    assert selected(page, f"state-carts-{EU}") is None
    assert selected(page, f"state-search-{AU}") == "major_outage"
    assert selected(page, f"state-orders-{US}") is None
    assert "(live: major outage)" in page
    assert f'name="tier2-{EU}"' in page
    # The declaration's picker: per region a whole-region and tier choice, single
    # components folded in a disclosure (was 27 flat selects).
    assert f'name="region-{AU}"' in page
    assert page.count("<summary>Single components in") == 3


def test_a_tier_choice_and_a_template_in_the_update_form(
        api: FlaskClient, csrf: str, app_engine: Engine) -> None:
    incident_id = declare(api, csrf)
    page = api.get(f"/admin/incidents/{incident_id}?template=monitoring").get_data(
        as_text=True)
    assert selected(page, "status") == "monitoring"
    assert "A fix has been applied and we are watching the results." in page
    answer = api.post(f"/admin/incidents/{incident_id}/updates", data={
        "csrf_token": csrf, "action": "post", "status": "monitoring", "body": "Watching.",
        "impact": "minor", "edit_components": "1", f"tier2-{US}": "degraded_performance"})
    assert answer.status_code == 303
    with session_scope(make_session_factory(app_engine)) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        failing = {(c.component, c.region, c.state) for c in incident.components
                   if c.state != "operational"}
    assert failing == {("audit-log", US, "degraded_performance"),
                       ("import", US, "degraded_performance")}


def test_a_refused_update_keeps_the_input_and_says_what_to_fix(
        api: FlaskClient, csrf: str, app_engine: Engine) -> None:
    incident_id = declare(api, csrf)
    answer = api.post(f"/admin/incidents/{incident_id}/updates", data={
        "csrf_token": csrf, "action": "post", "status": "identified", "body": "Kept text",
        "edit_components": "1", f"state-orders-{EU}": "on_fire"})
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert "Not posted: components[" in page
    assert "orders in europe-west1.gcp: &#39;state&#39; must be one of" in page
    assert "Kept text</textarea>" in page
    assert count(app_engine, IncidentUpdate) == 1


def test_resolving_what_subscribers_never_heard_of_previews_as_not_sent(
        api: FlaskClient, csrf: str, app_engine: Engine) -> None:
    incident_id = declare(api, csrf)
    with session_scope(make_session_factory(app_engine)) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        incident.notified_at = incident.notified_update_id = None
    page = api.post(f"/admin/incidents/{incident_id}/updates", data={
        "csrf_token": csrf, "action": "preview", "status": "resolved",
        "body": "All good."}).get_data(as_text=True)
    assert "Not sent: subscribers were never told of this incident" in page
    assert "Recipients now: nobody" in page
    assert 'class="preview-text"' not in page
