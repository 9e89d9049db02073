"""Senders: one small class per channel that delivers one outbox row, or says why not.

A sender never decides about retrying: it raises `DeliveryError(message, permanent=...)`
and the dispatcher (alerts.dispatch) backs off, retries or dead-letters. Implementations:
`pagerduty.EventsApiPager`, `email.SmtpMailer`, `webhook.WebhookSender`,
`channel.AppriseSender` (Slack, Teams, Discord, ntfy … through Apprise), and the in-process
`local.NullSender`, `local.OffSender`, `local.RecordingSender` for tests and switched-off
channels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, runtime_checkable

from core.clock import Clock
from core.config import Settings


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbox row as a sender sees it (a value, detached from any session).

    `secret` is the subscriber's signing secret for webhooks, looked up by the dispatcher;
    it never travels in the outbox payload.

    >>> Delivery(id=1, key="pd:incident-7:resolve", channel="pagerduty",
    ...          recipient="R0UTINGKEY", event_type="page.resolve",
    ...          payload={"action": "resolve", "dedup_key": "bellwether-incident-7"})
    """

    id: int
    key: str
    channel: str
    recipient: str
    event_type: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    attempts: int = 0
    secret: str | None = None

    @property
    def subscriber_id(self) -> int | None:
        value = self.payload.get("subscriber_id")
        return value if isinstance(value, int) else None


class DeliveryError(Exception):
    """A delivery failed. `permanent` failures are never retried; `retry_after_s` is the
    receiver's own wish (Retry-After).

    `recipient_fault` says the failure is the recipient's doing (a webhook that answers 500,
    an address the mail server refuses), so it counts against that subscriber;
    `recipient_gone` (HTTP 410) disables the subscriber at once. Failures on our side (our
    SMTP relay down, email switched off) count against nobody.
    """

    def __init__(self, message: str, permanent: bool, retry_after_s: float | None = None,
                 *, recipient_fault: bool = False, recipient_gone: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after_s = retry_after_s
        self.recipient_fault = recipient_fault or recipient_gone
        self.recipient_gone = recipient_gone


class Sender(Protocol):
    """Delivers one outbox row: returns when the receiver accepted it, raises
    DeliveryError otherwise."""

    def send(self, delivery: Delivery) -> None: ...


@runtime_checkable
class KeepsConnections(Protocol):
    """A sender that keeps connections open between sends (SMTP sessions, an HTTP pool):
    the dispatcher closes the idle ones after each pass, so none outlives its work."""

    def close_idle(self) -> None: ...


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Parse a Retry-After header (seconds or an HTTP date) into seconds from `now`."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, (moment - now).total_seconds())


def build_senders(settings: Settings, clock: Clock) -> dict[str, Sender]:
    """The sender of each channel, from the settings: email without BELLWETHER_SMTP_URL is
    off (its rows end dead, saying so); PagerDuty rows exist only for configured keys."""
    from alerts.senders.channel import AppriseSender
    from alerts.senders.email import DEFAULT_FROM, SmtpMailer
    from alerts.senders.local import OffSender
    from alerts.senders.pagerduty import EventsApiPager
    from alerts.senders.webhook import WebhookSender

    mailer: Sender
    if settings.smtp_url:
        mailer = SmtpMailer(settings.smtp_url, clock,
                            sender=str(settings.extra.get("mail_from", DEFAULT_FROM)))
    else:
        mailer = OffSender("email is off (BELLWETHER_SMTP_URL unset)")
    allow_private = bool(settings.extra.get("allow_private_webhooks"))
    webhooks = WebhookSender(clock, allow_private=allow_private)
    channels = AppriseSender(allow_private=allow_private)
    return {"pagerduty": EventsApiPager(settings, clock), "email": mailer, "webhook": webhooks,
            "apprise": channels, "apprise_page": channels}
