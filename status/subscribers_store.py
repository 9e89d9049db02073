"""Queries about subscribers: create, confirm, change, unsubscribe, and the audience of an
event (confirmed, not unsubscribed, not disabled, in one of the event's regions)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from status.models import Subscriber, SubscriberScope
from status.notify import Audience
from status.subscriptions import (
    BadLink,
    InvalidSubscription,
    Scope,
    check_resend,
    link_address,
    shown_address,
)


def create_subscriber(session: Session, kind: str, address: str, scopes: Sequence[Scope],
                      now: datetime) -> tuple[Subscriber, str | None]:
    """A new subscriber; webhooks get a signing secret (returned once), emails and channels
    wait for confirmation. Subscribing a pending address again starts over rather than duplicating
    it: new scopes, and `created_at` set to now, which is when its newest confirmation link
    was asked for (ConfirmationSentRecently within RESEND_INTERVAL of the last one)."""
    existing = session.scalar(select(Subscriber).where(
        Subscriber.kind == kind, Subscriber.address == address,
        Subscriber.unsubscribed_at.is_(None)).with_for_update())
    shown = shown_address(kind, address)
    if existing is not None and existing.confirmed_at is not None:
        raise InvalidSubscription(f"{shown} is subscribed already; use the manage link "
                                  "from any notice to change it")
    if existing is not None:
        check_resend(shown, existing.created_at, now)
        existing.created_at = now
    subscriber = existing or Subscriber(kind=kind, address=address, created_at=now)
    secret = secrets.token_urlsafe(32) if kind == "webhook" else None
    subscriber.secret = secret
    subscriber.confirmed_at = now if kind == "webhook" else None
    subscriber.scopes = [SubscriberScope(region=s.region, component=s.component)
                         for s in scopes]
    session.add(subscriber)
    session.flush()
    return subscriber, secret


def get_subscriber(session: Session, subscriber_id: int, address: str) -> Subscriber:
    """The subscriber a link names; the address must still match (no reuse of old links).
    `address` is as links carry it (`subscriptions.link_address`)."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None or link_address(subscriber.kind, subscriber.address) != address:
        raise BadLink("this link is not valid")
    return subscriber


def confirm(subscriber: Subscriber, now: datetime) -> None:
    if subscriber.unsubscribed_at is not None:
        raise BadLink("this subscription was cancelled; subscribe again")
    if subscriber.confirmed_at is None:
        subscriber.confirmed_at = now


def unsubscribe(subscriber: Subscriber, now: datetime) -> None:
    if subscriber.unsubscribed_at is None:
        subscriber.unsubscribed_at = now


def replace_scopes(subscriber: Subscriber, scopes: Sequence[Scope]) -> None:
    subscriber.scopes = [SubscriberScope(region=s.region, component=s.component)
                         for s in scopes]


def address_of(subscriber: Subscriber) -> str:
    """The subscriber's address as pages show it (a channel's secrets masked)."""
    return shown_address(subscriber.kind, subscriber.address)


def scopes_of(subscriber: Subscriber) -> list[Scope]:
    return [Scope(s.region, s.component) for s in subscriber.scopes]


def audience(session: Session, regions: Iterable[str],
             subscribed_by: datetime | None = None) -> list[Audience]:
    """Active subscribers with a scope in one of `regions` (the component filter is pure),
    who subscribed by `subscribed_by` when given."""
    wanted = sorted(set(regions))
    if not wanted:
        return []
    ids = select(SubscriberScope.subscriber_id).where(SubscriberScope.region.in_(wanted))
    query = (select(Subscriber).options(selectinload(Subscriber.scopes))
             .where(Subscriber.id.in_(ids), Subscriber.confirmed_at.is_not(None),
                    Subscriber.unsubscribed_at.is_(None), Subscriber.disabled_at.is_(None))
             .order_by(Subscriber.id))
    if subscribed_by is not None:
        query = query.where(Subscriber.created_at <= subscribed_by)
    rows = session.scalars(query)
    return [Audience(row.id, row.kind, row.address, tuple(scopes_of(row))) for row in rows]
