"""Channels through Apprise (github.com/caronc/apprise): one outbox row is one message to one
Apprise URL (`slack://…`, `discord://…`, `workflows://…` for Microsoft Teams, `ntfy://…`,
`json://…`, and the rest of Apprise's services).

The payload carries `title`, `body` and `notify_type` (info, success, warning, failure).
Apprise sends with its own HTTP client, so the webhook rules are applied before it connects:
when the URL names the host to connect to (ntfy, json, Mattermost, Teams workflows …), that
host is resolved and refused if private or loopback, unless `allow_private_webhooks` is set
(the same check as webhooks: `webhook.resolve_target`), and redirects are not followed.
Services with a fixed public host (Slack's and Discord's webhooks) carry only tokens in
their URL and need no check. Unlike a webhook, the address is not pinned: Apprise resolves
the name again when it connects.

Apprise reports a failure as False and a log line, not an exception or a status code: every
failure is a retryable one that counts against the channel's subscriber (as a webhook's
500), and the log line is the row's `last_error`. A URL Apprise cannot read fails for good.
"""

from __future__ import annotations

import logging
import threading
import warnings
from email import charset as email_charset
from typing import Any

from apprise import Apprise, AppriseAsset, NotifyType
from apprise.manager_plugins import NotificationManager
from apprise.plugins.base import NotifyBase

from alerts.senders import Delivery, DeliveryError
from alerts.senders.webhook import resolve_target

N_MGR = NotificationManager()  # type: ignore[no-untyped-call]
NOTIFY_TYPES = frozenset(t.value for t in NotifyType)
#: The Apprise logger; each send listens to its own thread's records on it.
APPRISE_LOG = logging.getLogger("apprise")


_LOADED = threading.Lock()
_loaded = False


def _load_plugins() -> None:
    """Load Apprise's plugins once, undoing what its email plugin does to the process:

    1. It imports `imghdr`, deprecated in Python 3.11: that DeprecationWarning is Apprise's
       to fix, so it is silenced here alone, under a lock (warning filters are global).
    2. It registers UTF-8 as quoted-printable in the standard library's charset tables,
       which would change how every email Bellwether sends (alerts.senders.email) is
       encoded: the tables are put back as they were.
    """
    global _loaded
    with _LOADED:
        if _loaded:
            return
        tables: list[dict[str, Any]] = [email_charset.CHARSETS, email_charset.ALIASES,
                                         email_charset.CODEC_MAP]
        saved = [dict(table) for table in tables]
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="'imghdr' is deprecated",
                                        category=DeprecationWarning)
                N_MGR.load_modules()  # type: ignore[no-untyped-call]
        finally:
            for table, before in zip(tables, saved, strict=True):
                table.clear()
                table.update(before)
        _loaded = True


def channel_plugin(url: str) -> NotifyBase | None:
    """Apprise's service for a URL (no network), or None when Apprise cannot read it."""
    _load_plugins()
    return Apprise.instantiate(url, asset=AppriseAsset(storage_mode="memory"))


def connect_host(plugin: NotifyBase) -> tuple[str, int, bool] | None:
    """The host, port and TLS flag the service connects to when its URL names them; None for
    services with a fixed host of their own (a Slack or Discord webhook, ntfy.sh)."""
    host = getattr(plugin, "host", None)
    if "host" not in plugin.template_tokens or not isinstance(host, str) or not host:
        return None
    secure = bool(getattr(plugin, "secure", False))
    port = getattr(plugin, "port", None)
    return host, int(port) if port else (443 if secure else 80), secure


def refuse_private_host(plugin: NotifyBase, allow_private: bool) -> None:
    """DeliveryError (permanent) when the service's host is private or loopback and that is
    not allowed: the webhook rule (`resolve_target`), applied to the host Apprise will use."""
    target = connect_host(plugin)
    if target is None:
        return
    host, port, secure = target
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    resolve_target(f"{'https' if secure else 'http'}://{netloc}/", allow_private)


class _ThreadRecords(logging.Handler):
    """Keeps the warnings Apprise logs on one thread (the dispatcher sends several at once)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.lines.append(record.getMessage())


class AppriseSender:
    """Delivers `apprise` (subscriber) and `apprise_page` (on-call) rows: checks the host,
    then one `notify()` of the row's URL."""

    def __init__(self, allow_private: bool = False) -> None:
        self.allow_private = allow_private

    def send(self, delivery: Delivery) -> None:
        plugin = channel_plugin(delivery.recipient)
        if plugin is None:
            raise DeliveryError("not a channel URL Apprise can send to", permanent=True,
                                recipient_fault=True)
        refuse_private_host(plugin, self.allow_private)
        plugin.redirects = False  # as webhooks: a redirect could lead past the host check
        payload: dict[str, Any] = dict(delivery.payload)
        notify_type = str(payload.get("notify_type", "info"))
        records = _ThreadRecords()
        APPRISE_LOG.addHandler(records)
        try:
            delivered = plugin.notify(
                body=str(payload.get("body", "")), title=str(payload.get("title", "")),
                notify_type=NotifyType(notify_type if notify_type in NOTIFY_TYPES else "info"))
        finally:
            APPRISE_LOG.removeHandler(records)
        if not delivered:
            reason = "; ".join(records.lines[-2:]) or "no reason given"
            raise DeliveryError(f"{plugin.service_name} refused: {reason}", permanent=False,
                                recipient_fault=True)
