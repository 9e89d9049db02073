"""Talking to a running Bellwether from the command line (fault injection, credentials)."""

from __future__ import annotations

import secrets
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


@dataclass
class RemoteApi:
    """A small authenticated client for a running instance's /api/v1."""

    server: str
    token: str | None

    def call(self, method: str, path: str, json: Any = None,
             params: dict[str, str] | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = httpx.request(method, self.server.rstrip("/") + path, json=json,
                                     params=params, headers=headers, timeout=10)
        except httpx.HTTPError as exc:
            raise BellwetherError(f"cannot reach Bellwether at {self.server}: {exc}") from exc
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
