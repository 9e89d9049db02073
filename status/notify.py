"""Notices to subscribers: one outbox row per (event, subscriber), in the transaction of the
change, only for subscribers whose regions and components the event touches.

Every event kind goes through the same filter (`subscriptions.hears`), so maintenance
notices reach region and component subscribers just like incident notices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jinja2 import Environment

from alerts.outbox import Notice
from status.subscriptions import Links, Scope, hears

EVENT_KINDS = ("incident.opened", "incident.updated", "incident.resolved",
               "maintenance.scheduled", "maintenance.started", "maintenance.completed")


@dataclass(frozen=True, slots=True)
class Event:
    """Something subscribers hear of. `key` is stable for the event (the outbox key's root)."""

    key: str
    kind: str
    title: str
    status: str
    body: str
    affected: tuple[tuple[str, str], ...]
    link: str
    at: datetime
    document: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ordering_key(self) -> str:
        return self.key.rsplit(":", 1)[0]


@dataclass(frozen=True, slots=True)
class Audience:
    """An active subscriber as the fan-out needs it."""

    id: int
    kind: str
    address: str
    scopes: tuple[Scope, ...]


def email_notice(event: Event, who: Audience, env: Environment, links: Links,
                 base_url: str) -> Notice:
    """An email (text and HTML) with a one-click unsubscribe link and its headers."""
    token = links.make("unsubscribe", who.id, who.address)
    unsubscribe = f"{base_url}/subscribe/unsubscribe/{token}"
    one_click = f"{base_url}/api/v1/subscribers/unsubscribe/{token}"
    manage = f"{base_url}/subscribe/manage/{links.make('manage', who.id, who.address)}"
    context = {"event": event, "unsubscribe_url": unsubscribe, "manage_url": manage}
    family = event.kind.split(".")[0]
    payload = {
        "subscriber_id": who.id,
        "subject": f"[{event.status.replace('_', ' ')}] {event.title}",
        "text": env.get_template(f"email/{family}.txt").render(**context),
        "html": env.get_template(f"email/{family}.html").render(**context),
        "headers": {"List-Unsubscribe": f"<{one_click}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    }
    return Notice(key=f"email:{event.key}:subscriber-{who.id}", channel="email",
                  recipient=who.address, event_type=event.kind, payload=payload,
                  ordering_key=f"subscriber-{who.id}")


def webhook_notice(event: Event, who: Audience) -> Notice:
    body = {"event": event.kind, "title": event.title, "status": event.status,
            "message": event.body, "at": event.at.isoformat(), "url": event.link,
            "affected": [{"component": c, "region": r} for c, r in event.affected],
            "data": dict(event.document)}
    return Notice(key=f"webhook:{event.key}:subscriber-{who.id}", channel="webhook",
                  recipient=who.address, event_type=event.kind,
                  payload={"subscriber_id": who.id, "body": body},
                  ordering_key=f"subscriber-{who.id}")


def notices_for(event: Event, audience: Sequence[Audience], env: Environment, links: Links,
                base_url: str) -> list[Notice]:
    """The outbox rows for everyone who hears of `event`."""
    if event.kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {event.kind!r}")
    notices = []
    for who in audience:
        if not hears(who.scopes, event.affected):
            continue
        if who.kind == "email":
            notices.append(email_notice(event, who, env, links, base_url))
        else:
            notices.append(webhook_notice(event, who))
    return notices


def confirmation_notice(subscriber_id: int, address: str, env: Environment, links: Links,
                        base_url: str, regions: Sequence[str], asked_at: datetime) -> Notice:
    """The double opt-in email: nothing else is sent before its link is followed. One per
    request (`asked_at`, the subscriber's `created_at`): subscribing again resends it."""
    confirm = f"{base_url}/subscribe/confirm/{links.make('confirm', subscriber_id, address)}"
    context = {"confirm_url": confirm, "regions": regions}
    payload = {"subscriber_id": subscriber_id, "subject": "Confirm your status subscription",
               "text": env.get_template("email/confirm.txt").render(**context),
               "html": env.get_template("email/confirm.html").render(**context)}
    return Notice(key=f"email:confirm:subscriber-{subscriber_id}:{int(asked_at.timestamp())}",
                  channel="email",
                  recipient=address, event_type="subscription.confirm", payload=payload,
                  ordering_key=f"subscriber-{subscriber_id}")
