"""Users and API tokens: creation, hashing and lookup. Passwords use Argon2; tokens SHA-256.

Tokens are 256-bit random strings, so a fast hash is enough to store them safely and lets a
lookup be one indexed query; passwords are low-entropy and get a slow, salted hash.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import BellwetherError, Conflict
from core.models import ApiToken, Role, User

TOKEN_PREFIX = "bw_"
_hasher = PasswordHasher()


@dataclass(frozen=True)
class Principal:
    """Who is calling: enough to decide what they may do."""

    user_id: int
    email: str
    role: Role


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    if not stored_hash:
        return False
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return False


def parse_role(raw: str) -> Role:
    try:
        return Role(raw)
    except ValueError:
        allowed = ", ".join(role.value for role in Role)
        raise BellwetherError(f"unknown role {raw!r}; use one of {allowed}") from None


def create_user(
    session: Session, *, email: str, role: Role, now: datetime, password: str | None = None,
    name: str = "",
) -> User:
    """Add a user; the e-mail address is the login and must be unique."""
    email = email.strip().lower()
    if "@" not in email or len(email) > 320:
        raise BellwetherError(f"not an e-mail address: {email!r}")
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"a user with e-mail {email} exists already")
    user = User(email=email, name=name, role=role.value, created_at=now,
                password_hash=hash_password(password) if password else None)
    session.add(user)
    session.flush()
    return user


def create_token(session: Session, user: User, *, name: str, now: datetime,
                 secret: str | None = None) -> str:
    """Store a new token for the user and return its secret (shown once, never stored)."""
    secret = secret or new_token_secret()
    token = ApiToken(user_id=user.id, name=name, token_hash=hash_token(secret),
                     prefix=secret[:8], created_at=now)
    session.add(token)
    session.flush()
    return secret


def principal_for_token(session: Session, secret: str, now: datetime) -> Principal | None:
    """The active user behind a token, or None for an unknown or revoked one."""
    row = session.execute(
        select(ApiToken, User).join(User).where(
            ApiToken.token_hash == hash_token(secret), ApiToken.revoked_at.is_(None),
            User.active.is_(True))
    ).first()
    if row is None:
        return None
    token, user = row
    token.last_used_at = now
    return Principal(user_id=user.id, email=user.email, role=Role(user.role))


def ensure_admin_token(session: Session, secret: str, now: datetime) -> None:
    """Make sure the bootstrap admin token exists (from BELLWETHER_ADMIN_TOKEN or the data dir)."""
    if session.scalar(select(ApiToken.id).where(ApiToken.token_hash == hash_token(secret))):
        return
    admin = session.scalar(select(User).where(User.email == "admin@bellwether.local"))
    if admin is None:
        admin = create_user(session, email="admin@bellwether.local", role=Role.ADMIN, now=now,
                            name="Bootstrap admin")
    create_token(session, admin, name="bootstrap", now=now, secret=secret)
