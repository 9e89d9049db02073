"""Subscriptions, pure: checking addresses, signed links, and who hears of an event.

Links are signed with the instance's secret key: a confirmation link expires (double
opt-in), manage and unsubscribe links do not, and none can be forged or moved to another
subscriber.

A channel (an Apprise URL: `slack://…`, `discord://…`, `ntfy://…`, `workflows://…` for
Teams) carries its secrets in its URL, so links name it by a digest of the URL, never the
URL itself (`link_address`), and pages show it with the secrets masked (`shown_address`).

Subscribing a pending address again sends a new confirmation link, at most once per
`RESEND_INTERVAL`; the links sent before stay valid until each expires (they are signed,
not stored), so a lost or expired link never locks an address out.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from alerts.senders.channel import channel_plugin
from core.clock import Clock
from core.errors import BellwetherError

CONFIRM_MAX_AGE_S = 48 * 3600
#: How often a pending address may be sent a new confirmation link (asking again sooner is
#: refused, so the form cannot be used to flood someone's inbox).
RESEND_INTERVAL = timedelta(minutes=10)
KINDS = ("email", "webhook", "apprise")
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
                    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")


class InvalidSubscription(BellwetherError):
    code = "invalid_subscription"


class ConfirmationSentRecently(BellwetherError):
    status = 429
    code = "confirmation_sent_recently"


class BadLink(BellwetherError):
    status = 404
    code = "bad_link"


def check_email(address: str) -> str:
    """The address, trimmed and with a lower-case domain; a clear error when it is not one."""
    address = address.strip()
    if len(address) > 254 or not _EMAIL.match(address):
        raise InvalidSubscription(f"{address[:80]!r} is not an email address")
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}"


def check_webhook_url(url: str) -> str:
    """An http(s) URL with a host; where it points is checked again at every delivery."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 500:
        raise InvalidSubscription("a webhook needs an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise InvalidSubscription("a webhook URL must not carry credentials")
    return url


def check_channel_url(url: str) -> str:
    """An Apprise URL that Apprise can send to (read without any network); where its host
    points is checked at subscription and again at every delivery."""
    url = url.strip()
    if not url or len(url) > 500 or any(ch.isspace() for ch in url) or \
            channel_plugin(url) is None:
        raise InvalidSubscription("a channel needs an Apprise URL such as slack://…, "
                                  "discord://…, workflows://… (Teams) or ntfy://host/topic")
    return url


def link_address(kind: str, address: str) -> str:
    """What signed links carry to name a subscriber's address: the address itself, or for a
    channel a digest of its URL (the URL holds the channel's secrets; links travel in clear).

    >>> link_address("email", "a@b.test"), link_address("apprise", "ntfy://h/t")[:16]
    ('a@b.test', 'apprise:sha256:7')
    """
    if kind != "apprise":
        return address
    return "apprise:sha256:" + hashlib.sha256(address.encode()).hexdigest()[:32]


def shown_address(kind: str, address: str) -> str:
    """The address as pages show it: a channel's URL with its secrets masked by Apprise."""
    if kind != "apprise":
        return address
    plugin = channel_plugin(address)
    if plugin is None:
        return "(channel)"
    return str(plugin.url(privacy=True)).split("?", 1)[0]  # type: ignore[no-untyped-call]


def check_resend(address: str, last_sent: datetime, now: datetime) -> None:
    """Refuse a new confirmation link for `address` sooner than RESEND_INTERVAL after the
    last one, saying when to ask again.

    >>> from datetime import UTC
    >>> sent = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
    >>> check_resend("a@b.test", sent, sent + RESEND_INTERVAL) is None
    True
    """
    wait = last_sent + RESEND_INTERVAL - now
    if wait > timedelta(0):
        minutes = -(-int(wait.total_seconds()) // 60)
        raise ConfirmationSentRecently(
            f"a confirmation link was sent to {address} at {last_sent:%H:%M} UTC and is "
            f"valid for {CONFIRM_MAX_AGE_S // 3600} hours; check your inbox and spam folder, "
            f"or ask for a new link in {minutes} min")


@dataclass(frozen=True, slots=True)
class Scope:
    """A region a subscriber chose, and optionally one component in it ('' = all)."""

    region: str
    component: str = ""


def check_scopes(regions: Iterable[str], components: Iterable[str],
                 known_regions: Sequence[str], known_components: Iterable[str]) -> list[Scope]:
    """At least one known region; components narrow every chosen region."""
    chosen = sorted({r.strip() for r in regions if r.strip()})
    if not chosen:
        raise InvalidSubscription("choose at least one region")
    unknown = [r for r in chosen if r not in known_regions]
    if unknown:
        raise InvalidSubscription(f"unknown region {unknown[0]!r}")
    picked = sorted({c.strip() for c in components if c.strip()})
    strangers = sorted(set(picked) - set(known_components))
    if strangers:
        raise InvalidSubscription(f"unknown component {strangers[0]!r}")
    return [Scope(r, c) for r in chosen for c in (picked or [""])]


def hears(scopes: Iterable[Scope], affected: Iterable[tuple[str, str]]) -> bool:
    """Whether a subscriber with `scopes` hears of an event affecting (component, region)s.

    >>> hears([Scope("eu")], [("orders", "eu")])
    True
    >>> hears([Scope("eu", "carts")], [("orders", "eu")])
    False
    """
    pairs = list(affected)
    return any(scope.region == region and scope.component in ("", component)
               for scope in scopes for component, region in pairs)


class _ClockSigner(TimestampSigner):
    """itsdangerous' signer, telling time by the injected clock instead of the wall."""

    clock: Clock

    def get_timestamp(self) -> int:
        return int(self.clock.now().timestamp())


class Links:
    """Signed tokens for confirm, manage and unsubscribe links."""

    def __init__(self, secret_key: str, clock: Clock) -> None:
        signer = type("Signer", (_ClockSigner,), {"clock": clock})
        self.serializer = URLSafeTimedSerializer(secret_key, salt="bellwether-subscriptions",
                                                 signer=signer)

    def make(self, purpose: str, subscriber_id: int, address: str) -> str:
        return self.serializer.dumps([purpose, subscriber_id, address])

    def read(self, token: str, purpose: str, max_age: int | None = None) -> tuple[int, str]:
        """The subscriber id and address a token was made for; BadLink when it is not ours,
        for another purpose, or expired."""
        try:
            kind, subscriber_id, address = self.serializer.loads(token, max_age=max_age)
        except SignatureExpired:
            raise BadLink("this link has expired; subscribe again") from None
        except (BadSignature, ValueError, TypeError):
            raise BadLink("this link is not valid") from None
        if kind != purpose or not isinstance(subscriber_id, int):
            raise BadLink("this link is not valid")
        return subscriber_id, str(address)
