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
from status.subscriptions import Links, Scope, hears, link_address

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


_CHANNEL_TYPES = {"resolved": "success", "completed": "success", "scheduled": "info",
                  "in_progress": "info"}


def channel_notice(event: Event, who: Audience, links: Links, base_url: str) -> Notice:
    """A message to a subscriber's channel (Slack, Teams, Discord, ntfy … through Apprise):
    title, what is affected, the message, and links to the incident and to manage or stop
    the subscription."""
    ref = link_address("apprise", who.address)
    manage = f"{base_url}/subscribe/manage/{links.make('manage', who.id, ref)}"
    unsubscribe = f"{base_url}/subscribe/unsubscribe/{links.make('unsubscribe', who.id, ref)}"
    affected = ", ".join(f"{c} in {r}" for c, r in event.affected)
    body = "\n\n".join(part for part in (
        event.body, f"Affected: {affected}" if affected else "", f"Details: {event.link}",
        f"Manage: {manage}\nUnsubscribe: {unsubscribe}") if part)
    notify_type = _CHANNEL_TYPES.get(event.status, "warning")
    return Notice(key=f"apprise:{event.key}:subscriber-{who.id}", channel="apprise",
                  recipient=who.address, event_type=event.kind,
                  payload={"subscriber_id": who.id, "notify_type": notify_type,
                           "title": f"[{event.status.replace('_', ' ')}] {event.title}"[:250],
                           "body": body},
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
        elif who.kind == "apprise":
            notices.append(channel_notice(event, who, links, base_url))
        else:
            notices.append(webhook_notice(event, who))
    return notices


def confirmation_notice(subscriber_id: int, address: str, env: Environment, links: Links,
                        base_url: str, regions: Sequence[str], asked_at: datetime) -> Notice:
    """The double opt-in email: nothing else is sent before its link is followed. One per
    request (`asked_at`, the subscriber's `created_at`): subscribing again resends it."""
    confirm = f"{base_url}/subscribe/confirm/{links.make('confirm', subscriber_id, address)}"
    manage = f"{base_url}/subscribe/manage/{links.make('manage', subscriber_id, address)}"
    context = {"confirm_url": confirm, "manage_url": manage, "regions": regions}
    payload = {"subscriber_id": subscriber_id, "subject": "Confirm your status subscription",
               "text": env.get_template("email/confirm.txt").render(**context),
               "html": env.get_template("email/confirm.html").render(**context)}
    return Notice(key=f"email:confirm:subscriber-{subscriber_id}:{int(asked_at.timestamp())}",
                  channel="email",
                  recipient=address, event_type="subscription.confirm", payload=payload,
                  ordering_key=f"subscriber-{subscriber_id}")


def channel_confirmation_notice(subscriber_id: int, address: str, links: Links, base_url: str,
                                regions: Sequence[str], asked_at: datetime) -> Notice:
    """Double opt-in for a channel: a first message through the channel itself, carrying the
    confirmation link; nothing else is sent there before someone who reads the channel opens
    it. One per request, like the email's."""
    token = links.make("confirm", subscriber_id, link_address("apprise", address))
    manage = links.make("manage", subscriber_id, link_address("apprise", address))
    body = (f"Someone asked for status notices of {', '.join(regions)} in this channel.\n\n"
            f"Confirm with this link (valid for 48 hours): {base_url}/subscribe/confirm/{token}"
            f"\n\nChange the regions and components first: {base_url}/subscribe/manage/{manage}"
            "\n\nIf it was not you, ignore this message: nothing else will be sent.")
    return Notice(key=f"apprise:confirm:subscriber-{subscriber_id}:{int(asked_at.timestamp())}",
                  channel="apprise", recipient=address, event_type="subscription.confirm",
                  payload={"subscriber_id": subscriber_id, "notify_type": "info",
                           "title": "Confirm your status subscription", "body": body},
                  ordering_key=f"subscriber-{subscriber_id}")
