"""Users and API tokens: creation, hashing and lookup. Passwords use Argon2; tokens SHA-256.

Tokens are 256-bit random strings, so a fast hash is enough to store them safely and lets a
lookup be one indexed query; passwords are low-entropy and get a slow, salted hash.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import BellwetherError, Conflict, Forbidden
from core.models import ApiToken, Role, User

TOKEN_PREFIX = "bw_"
#: A probe location's name, as checks store it (in 64 characters); `bellwether agent` uses
#: the same rule for `--location`.
LOCATION_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_hasher = PasswordHasher()


@dataclass(frozen=True)
class Principal:
    """Who is calling: enough to decide what they may do.

    `locations` are the probe locations an agent token was issued for (empty otherwise).
    """

    user_id: int
    email: str
    role: Role
    locations: tuple[str, ...] = ()


class LocationRefused(Forbidden):
    code = "location_not_allowed"


def require_locations(principal: Principal, locations: Iterable[str]) -> None:
    """Refuse (403) checks or heartbeats for a location the token was not issued for.

    An agent token is bound to the locations it was issued for, so a leaked token cannot
    speak for the whole fleet. Admin tokens may submit for any location: the operator's own
    tools (and a quick `bellwether agent --token $BELLWETHER_ADMIN_TOKEN` on one machine)
    act for every location anyway.
    """
    if principal.role is Role.ADMIN:
        return
    if not principal.locations:
        raise LocationRefused(
            "this agent token is bound to no probe location, so it may not submit checks; "
            "reissue with --location: bellwether token create --email "
            f"{principal.email} --location LOCATION")
    foreign = sorted(set(locations) - set(principal.locations))
    if foreign:
        raise LocationRefused(
            f"this token may submit for {', '.join(principal.locations)} only, not for "
            f"location {', '.join(foreign)}; nothing of this batch was stored")


def parse_locations(values: Iterable[str]) -> tuple[str, ...]:
    """Location names for a token, checked, without repeats, in order."""
    locations: list[str] = []
    for raw in values:
        value = raw.strip()
        if not LOCATION_NAME.match(value):
            raise BellwetherError(f"not a location name: {raw!r} (use 1 to 64 lower-case "
                                  "letters, digits, '.', '_' or '-')")
        if value not in locations:
            locations.append(value)
    if len(",".join(locations)) > 500:
        raise BellwetherError("too many locations for one token; issue several tokens")
    return tuple(locations)


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
                 secret: str | None = None, locations: Iterable[str] = ()) -> str:
    """Store a new token for the user and return its secret (shown once, never stored).

    `locations` bind an agent's token to the probe locations it may submit checks for;
    only agent tokens take them.
    """
    bound = parse_locations(locations)
    if bound and user.role != Role.AGENT.value:
        raise BellwetherError(f"only agent tokens are bound to locations; {user.email} has "
                              f"the {user.role} role")
    secret = secret or new_token_secret()
    token = ApiToken(user_id=user.id, name=name, token_hash=hash_token(secret),
                     prefix=secret[:8], created_at=now, locations=",".join(bound) or None)
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
    locations = tuple(token.locations.split(",")) if token.locations else ()
    return Principal(user_id=user.id, email=user.email, role=Role(user.role),
                     locations=locations)


def ensure_admin_token(session: Session, secret: str, now: datetime) -> None:
    """Make sure the bootstrap admin token exists (from BELLWETHER_ADMIN_TOKEN or the data dir)."""
    if session.scalar(select(ApiToken.id).where(ApiToken.token_hash == hash_token(secret))):
        return
    admin = session.scalar(select(User).where(User.email == "admin@bellwether.local"))
    if admin is None:
        admin = create_user(session, email="admin@bellwether.local", role=Role.ADMIN, now=now,
                            name="Bootstrap admin")
    create_token(session, admin, name="bootstrap", now=now, secret=secret)
