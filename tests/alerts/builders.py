"""Builders for outbox tests: pages and notices in the outbox, subscribers, and a look at
the rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from alerts.dispatch import Dispatcher
from alerts.models import OutboxRow
from alerts.outbox import Notice, enqueue
from alerts.paging import IncidentPage, page_notices
from core.config import Settings
from core.db import SessionFactory, session_scope
from status.models import Subscriber
from tests.support.clock import ManualClock


def a_page(incident_id: int) -> IncidentPage:
    return IncidentPage(incident_id=incident_id, title=f"orders down (incident {incident_id})",
                        impact="major", tier=1,
                        components=[("orders", "europe-west1.gcp", "major_outage")],
                        link=f"https://status.example.test/incidents/{incident_id}")


def enqueue_pages(factory: SessionFactory, settings: Settings, now: datetime,
                  incident_ids: Sequence[int],
                  actions: Sequence[str] = ("trigger", "acknowledge", "resolve")) -> None:
    """Every action for every incident, in that order (as the incident lifecycle makes them)."""
    with session_scope(factory) as session:
        for action in actions:
            for incident_id in incident_ids:
                enqueue(session, page_notices(a_page(incident_id), action, 1, settings), now)


def enqueue_notices(factory: SessionFactory, now: datetime, notices: Sequence[Notice]) -> None:
    with session_scope(factory) as session:
        enqueue(session, notices, now)


def add_subscriber(factory: SessionFactory, now: datetime, kind: str, address: str,
                   secret: str | None = None) -> int:
    with session_scope(factory) as session:
        subscriber = Subscriber(kind=kind, address=address, secret=secret, created_at=now,
                                confirmed_at=now)
        session.add(subscriber)
        session.flush()
        return subscriber.id


def subscriber(factory: SessionFactory, subscriber_id: int) -> Subscriber:
    with session_scope(factory) as session:
        found = session.get(Subscriber, subscriber_id)
        assert found is not None
        return found


@dataclass(frozen=True)
class RowView:
    id: int
    key: str
    status: str
    attempts: int
    next_attempt_at: datetime
    claimed_by: str | None
    last_error: str | None
    delivered_at: datetime | None


def rows(factory: SessionFactory) -> list[RowView]:
    with session_scope(factory) as session:
        return [RowView(r.id, r.key, r.status, r.attempts, r.next_attempt_at, r.claimed_by,
                        r.last_error, r.delivered_at)
                for r in session.scalars(select(OutboxRow).order_by(OutboxRow.id))]


def row(factory: SessionFactory, key: str) -> RowView:
    return next(r for r in rows(factory) if r.key == key)


def statuses(factory: SessionFactory) -> dict[str, str]:
    return {r.key: r.status for r in rows(factory)}


def drain(dispatcher: Dispatcher, factory: SessionFactory, clock: ManualClock) -> int:
    """Run passes until one finds nothing due now; how many rows were attempted."""
    total = 0
    while attempted := dispatcher.run_once(factory, clock):
        total += attempted
    return total


def webhook_notice(key: str, url: str, subscriber_id: int, body: dict[str, Any],
                   ordering_key: str | None = None) -> Notice:
    return Notice(key=key, channel="webhook", recipient=url, event_type="incident.update",
                  payload={"subscriber_id": subscriber_id, "body": body},
                  ordering_key=ordering_key)
