"""Subscribing to status notices: the public form and API, double opt-in, manage and
one-click unsubscribe. Thin views: parse, call the store, answer."""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, jsonify, render_template, request

from alerts.outbox import enqueue
from alerts.senders.channel import channel_plugin, connect_host
from alerts.senders.webhook import is_private_address
from commerce.catalog import SERVICES
from core.errors import BellwetherError
from core.openapi import operation
from core.ratelimit import SlidingWindowLimiter
from core.schemas import request_body
from core.web import current_runtime, request_session
from status import schemas as api
from status import subscribers_store
from status.announce import links_for
from status.notify import channel_confirmation_notice, confirmation_notice
from status.render import environment
from status.subscriptions import (
    CONFIRM_MAX_AGE_S,
    KINDS,
    RESEND_INTERVAL,
    ConfirmationSentRecently,
    InvalidSubscription,
    check_channel_url,
    check_email,
    check_scopes,
    check_webhook_url,
)

bp = Blueprint("subscribe", __name__)


class TooManyRequests(BellwetherError):
    status = 429
    code = "too_many_requests"


def _limiter() -> SlidingWindowLimiter:
    parts = current_runtime().parts
    limiter = parts.get("subscribe_limiter")
    if not isinstance(limiter, SlidingWindowLimiter):
        limit = int(current_runtime().settings.extra.get("subscribe_limit_per_hour", 10))
        limiter = SlidingWindowLimiter(limit, timedelta(hours=1), current_runtime().clock)
        parts["subscribe_limiter"] = limiter
    return limiter


def refuse_private_webhook(url: str) -> None:
    """Refuse a webhook whose host is, or resolves to, a private or loopback address: the
    sender refuses those at every delivery (unless `allow_private_webhooks` is set), so it
    would never hear a thing. A name that does not resolve right now is accepted; delivery
    resolves it again each time and records why it failed."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return
    refuse_private_host(parts.hostname or "", port, "webhook")


def refuse_private_channel(url: str) -> None:
    """The same for a channel whose URL names its host (ntfy, json, Mattermost, Teams
    workflows …); services with a fixed public host (Slack, Discord) have nothing to check."""
    plugin = channel_plugin(url)
    target = connect_host(plugin) if plugin is not None else None
    if target is not None:
        refuse_private_host(target[0], target[1], "channel")


def refuse_private_host(host: str, port: int, what: str) -> None:
    """InvalidSubscription when `host` is, or resolves to, a private or loopback address and
    `allow_private_webhooks` is off."""
    if current_runtime().settings.extra.get("allow_private_webhooks"):
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        return
    private = [str(info[4][0]) for info in infos if is_private_address(str(info[4][0]))]
    if private:
        where = host if host == private[0] else f"{host} ({private[0]})"
        raise InvalidSubscription(
            f"{where} is a private or loopback address, which Bellwether never delivers "
            f"to: this {what} would receive nothing. Use a URL reachable from the internet")


def _subscribe(kind: str, address: str, regions: list[str], components: list[str],
               ) -> dict[str, Any]:
    """Check, store and (for email) send the confirmation, in one transaction; a pending
    address gets a new confirmation link (ConfirmationSentRecently when asked too soon)."""
    wait = _limiter().attempt(request.remote_addr or "unknown")
    if wait is not None:
        raise TooManyRequests(f"too many subscriptions from your address; try again in "
                              f"{int(wait.total_seconds()) + 1} s")
    runtime = current_runtime()
    if kind not in KINDS:
        raise InvalidSubscription("'kind' must be apprise (a channel URL), email or webhook")
    address = _checked_address(kind, address)
    scopes = check_scopes(regions, components, runtime.settings.regions, SERVICES)
    session = request_session()
    now = runtime.clock.now()
    subscriber, secret = subscribers_store.create_subscriber(session, kind, address, scopes, now)
    links = links_for(runtime.settings, runtime.clock)
    regions_chosen = sorted({s.region for s in scopes})
    if kind == "email":
        enqueue(session, [confirmation_notice(
            subscriber.id, address, environment(), links,
            runtime.settings.effective_public_url, regions_chosen, subscriber.created_at)], now)
    elif kind == "apprise":
        enqueue(session, [channel_confirmation_notice(
            subscriber.id, address, links, runtime.settings.effective_public_url,
            regions_chosen, subscriber.created_at)], now)
    session.commit()
    return {"id": subscriber.id, "kind": kind,
            "address": subscribers_store.address_of(subscriber),
            "status": "active" if subscriber.confirmed_at else "pending_confirmation",
            "secret": secret, "regions": sorted({s.region for s in scopes}),
            "components": sorted({s.component for s in scopes if s.component})}


def _checked_address(kind: str, address: str) -> str:
    """The address in its checked form; webhooks and channels whose host is private or
    loopback are refused (unless allowed), as the senders would refuse them."""
    if kind == "email":
        return check_email(address)
    if kind == "webhook":
        url = check_webhook_url(address)
        refuse_private_webhook(url)
        return url
    url = check_channel_url(address)
    refuse_private_channel(url)
    return url


def _form_lists() -> tuple[list[str], list[str]]:
    return request.form.getlist("regions"), request.form.getlist("components")


def _render(template: str, status: int = 200, **context: Any) -> Response:
    settings = current_runtime().settings
    html = render_template(f"public/{template}", regions=settings.regions,
                           components=list(SERVICES), all_regions=settings.regions,
                           title=str(settings.extra.get("status_title", "Bellwether")),
                           **context)
    return Response(html, status=status, mimetype="text/html")


@bp.get("/subscribe")
def subscribe_form() -> Response:
    return _render("subscribe.html")


@bp.post("/subscribe")
def subscribe_post() -> Response:
    regions, components = _form_lists()
    try:
        result = _subscribe(request.form.get("kind", "email"), request.form.get("address", ""),
                            regions, components)
    except (InvalidSubscription, ConfirmationSentRecently) as exc:
        return _render("subscribe.html", status=exc.status, error=exc.detail,
                       chosen_regions=regions, chosen_components=components,
                       address=request.form.get("address", ""))
    return _render("subscribed.html", status=201, result=result,
                   resend_minutes=int(RESEND_INTERVAL.total_seconds()) // 60)


@bp.post("/api/v1/subscribers")
@operation(public=True, body=api.SubscribeIn, responses={201: api.Subscribed},
           tags=("subscriptions",))
def subscribe_api() -> Any:
    """Subscribe by email or channel (`apprise`, an Apprise URL: a confirmation link is sent
    through it) or webhook (the secret is shown once)."""
    body = request_body(api.SubscribeIn)
    result = _subscribe(body.kind, body.address, body.regions, body.components)
    return jsonify(result), 201


@bp.get("/subscribe/confirm/<token>")
def confirm(token: str) -> Response:
    runtime = current_runtime()
    links = links_for(runtime.settings, runtime.clock)
    subscriber_id, address = links.read(token, "confirm", max_age=CONFIRM_MAX_AGE_S)
    session = request_session()
    subscriber = subscribers_store.get_subscriber(session, subscriber_id, address)
    subscribers_store.confirm(subscriber, runtime.clock.now())
    session.commit()
    manage = f"/subscribe/manage/{links.make('manage', subscriber.id, address)}"
    return _render("confirmed.html", address=subscribers_store.address_of(subscriber),
                   manage_url=manage,
                   scopes=subscribers_store.scopes_of(subscriber))


@bp.route("/subscribe/manage/<token>", methods=["GET", "POST"])
def manage(token: str) -> Response:
    runtime = current_runtime()
    links = links_for(runtime.settings, runtime.clock)
    subscriber_id, address = links.read(token, "manage")
    session = request_session()
    subscriber = subscribers_store.get_subscriber(session, subscriber_id, address)
    error = None
    if request.method == "POST":
        regions, components = _form_lists()
        try:
            subscribers_store.replace_scopes(subscriber, check_scopes(
                regions, components, runtime.settings.regions, SERVICES))
            session.commit()
        except InvalidSubscription as exc:
            session.rollback()
            error = exc.detail
    scopes = subscribers_store.scopes_of(subscriber)
    return _render("manage.html", status=400 if error else 200, error=error,
                   address=subscribers_store.address_of(subscriber),
                   chosen_regions=sorted({s.region for s in scopes}),
                   chosen_components=sorted({s.component for s in scopes if s.component}),
                   unsubscribe_url=f"/subscribe/unsubscribe/"
                                   f"{links.make('unsubscribe', subscriber.id, address)}",
                   cancelled=subscriber.unsubscribed_at is not None,
                   saved=request.method == "POST" and not error)


def _unsubscribe(token: str) -> str:
    runtime = current_runtime()
    subscriber_id, address = links_for(runtime.settings, runtime.clock).read(token, "unsubscribe")
    session = request_session()
    subscriber = subscribers_store.get_subscriber(session, subscriber_id, address)
    subscribers_store.unsubscribe(subscriber, runtime.clock.now())
    session.commit()
    return subscribers_store.address_of(subscriber)


@bp.get("/subscribe/unsubscribe/<token>")
def unsubscribe_page(token: str) -> Response:
    links_for(current_runtime().settings, current_runtime().clock).read(token, "unsubscribe")
    return _render("unsubscribe.html", token=token)


@bp.post("/subscribe/unsubscribe/<token>")
def unsubscribe_form(token: str) -> Response:
    return _render("unsubscribed.html", address=_unsubscribe(token))


@bp.post("/api/v1/subscribers/unsubscribe/<token>")
@operation(public=True, responses={200: api.Unsubscribed}, tags=("subscriptions",))
def unsubscribe_one_click(token: str) -> Any:
    """One-click unsubscribe (RFC 8058: List-Unsubscribe-Post); the token is the credential."""
    return jsonify({"unsubscribed": _unsubscribe(token)})
