"""auth: OAuth2 client-credentials tokens per project, expiring."""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta
from typing import Any

from flask import Blueprint, jsonify, request

from commerce import store
from commerce.tokens import DEFAULT_EXPIRES_IN_S, MAX_EXPIRES_IN_S, issue_token
from commerce.validation import InvalidInput
from commerce.zone import zone_context, zone_session
from core.errors import Unauthorized

bp = Blueprint("auth", __name__)


def _client_credentials() -> tuple[str, str]:
    """From HTTP Basic (RFC 6749 §2.3.1) or, as it also allows, the form body."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic" and encoded:
        try:
            client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("malformed Basic credentials", code="invalid_client") from None
        return client_id, secret
    return request.form.get("client_id", ""), request.form.get("client_secret", "")


def _expires_in() -> int:
    raw = request.form.get("expires_in", str(DEFAULT_EXPIRES_IN_S))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_EXPIRES_IN_S:
        raise InvalidInput(f"'expires_in' must be 1..{MAX_EXPIRES_IN_S} seconds")
    return int(raw)


@bp.post("/oauth/token")
def token() -> Any:
    """Exchange client credentials for an access token bound to the client's project."""
    if request.form.get("grant_type") != "client_credentials":
        raise InvalidInput("grant_type must be client_credentials", code="unsupported_grant_type")
    ctx = zone_context()
    client_id, secret = _client_credentials()
    session = zone_session()
    project = store.project_for_client(session, ctx.region, client_id, secret)
    if project is None:
        raise Unauthorized("unknown client or wrong secret", code="invalid_client")
    expires_in = _expires_in()
    now = ctx.clock.now()
    secret = ctx.cache.region_secret(ctx.session_factory, ctx.region, ctx.clock)
    access_token = issue_token(secret, project.key, now + timedelta(seconds=expires_in))
    return jsonify({"access_token": access_token, "token_type": "Bearer",
                    "expires_in": expires_in, "scope": f"manage_project:{project.key}"})
