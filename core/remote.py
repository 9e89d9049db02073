"""Talking to a running Bellwether from the command line (fault injection, credentials)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from core.config import Settings
from core.errors import BellwetherError

ADMIN_TOKEN_FILE = "admin-token"
SECRET_KEY_FILE = "secret-key"


def admin_token_path(settings: Settings) -> Path:
    return settings.data_dir / ADMIN_TOKEN_FILE


def local_admin_token(settings: Settings) -> str | None:
    """BELLWETHER_ADMIN_TOKEN, else the token `bellwether up` left in the data directory."""
    if settings.admin_token:
        return settings.admin_token
    path = admin_token_path(settings)
    return path.read_text(encoding="utf-8").strip() if path.exists() else None


def with_stable_secret_key(settings: Settings) -> Settings:
    """BELLWETHER_SECRET_KEY, else one kept in the data directory: signed links in emails
    and login sessions must survive a restart."""
    if settings.secret_key:
        return settings
    path = settings.data_dir / SECRET_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48) + "\n", encoding="utf-8")
        path.chmod(0o600)
    return replace(settings, secret_key=path.read_text(encoding="utf-8").strip())


#: How often a call answered "busy, nothing was stored" (503 with Retry-After) is tried.
BUSY_ATTEMPTS = 5


def _busy_wait(response: httpx.Response) -> float | None:
    """Seconds to wait before trying again when the server says it stored nothing and asks
    to be retried (503 with Retry-After, e.g. SQLite's write lock busy); None otherwise."""
    if response.status_code != 503:
        return None
    try:
        return min(float(response.headers.get("Retry-After", "")), 10.0)
    except ValueError:
        return None


@dataclass
class RemoteApi:
    """A small authenticated client for a running instance's /api/v1."""

    server: str
    token: str | None
    sleep: Callable[[float], None] = time.sleep

    def call(self, method: str, path: str, json: Any = None,
             params: dict[str, str] | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        for attempt in range(1, BUSY_ATTEMPTS + 1):
            try:
                response = httpx.request(method, self.server.rstrip("/") + path, json=json,
                                         params=params, headers=headers, timeout=10)
            except httpx.HTTPError as exc:
                raise BellwetherError(
                    f"cannot reach Bellwether at {self.server}: {exc}") from exc
            wait = _busy_wait(response)
            if wait is None or attempt == BUSY_ATTEMPTS:
                break
            self.sleep(wait)  # the server stored nothing: trying again is safe
        try:
            body = response.json()
        except ValueError:
            body = {"detail": response.text[:200]}
        if response.status_code >= 400:
            detail = body.get("detail", body) if isinstance(body, dict) else body
            raise BellwetherError(f"{response.status_code}: {detail}")
        return body


def remote_for(settings: Settings, server: str | None, token: str | None) -> RemoteApi:
    return RemoteApi(server or f"http://{settings.http_host}:{settings.http_port}",
                     token or local_admin_token(settings))
