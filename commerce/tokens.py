"""Access tokens of the commerce auth service: stateless and HMAC-signed, like a JWT.

Issuing needs only a read of the client's credentials, so a region whose database refuses
writes still hands out tokens; checking needs the auth service, the single point of failure.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from core.errors import Unauthorized

MAX_EXPIRES_IN_S = 172_800
DEFAULT_EXPIRES_IN_S = 3_600


@dataclass(frozen=True, slots=True)
class TokenClaims:
    project_key: str
    expires_at: datetime


def _sign(secret: str, message: str) -> str:
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def issue_token(secret: str, project_key: str, expires_at: datetime) -> str:
    """A token that names its project and expiry and cannot be forged without the secret.

    The expiry is rounded up to the whole second, so a token never lives shorter than asked.
    """
    body = f"v1.{project_key}.{math.ceil(expires_at.timestamp())}.{secrets.token_hex(8)}"
    return f"{body}.{_sign(secret, body)}"


def verify_token(secret: str, token: str, now: datetime) -> TokenClaims:
    """The token's claims, or Unauthorized when it is malformed, forged or expired."""
    body, _, signature = token.rpartition(".")
    parts = body.split(".")
    if len(parts) != 4 or parts[0] != "v1" or not signature:
        raise Unauthorized("malformed access token", code="invalid_token")
    if not hmac.compare_digest(_sign(secret, body), signature):
        raise Unauthorized("access token signature does not match", code="invalid_token")
    try:
        expires_at = datetime.fromtimestamp(int(parts[2]), UTC)
    except ValueError:
        raise Unauthorized("malformed access token", code="invalid_token") from None
    if now >= expires_at:
        raise Unauthorized("access token expired", code="invalid_token")
    return TokenClaims(project_key=parts[1], expires_at=expires_at)


def client_secret_for(region_secret: str, client_id: str) -> str:
    """A derived client secret, so Bellwether's own probe client needs no stored plaintext."""
    return _sign(region_secret, f"client:{client_id}")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
