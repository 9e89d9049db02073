"""Users, roles and API tokens in a real database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.auth import (
    create_token,
    create_user,
    ensure_admin_token,
    hash_token,
    parse_role,
    principal_for_token,
    verify_password,
)
from core.errors import BellwetherError, Conflict
from core.models import ApiToken, Role, User

NOW = datetime(2026, 10, 1, tzinfo=UTC)


def test_a_token_is_stored_only_as_its_hash(db_session: Session) -> None:
    user = create_user(db_session, email="Sam@Example.test", role=Role.SUPPORT, now=NOW)
    secret = create_token(db_session, user, name="laptop", now=NOW)
    stored = db_session.scalars(select(ApiToken.token_hash)).all()
    assert secret not in stored
    assert hash_token(secret) in stored
    principal = principal_for_token(db_session, secret, NOW)
    assert principal is not None
    assert principal.email == "sam@example.test"
    assert principal.role is Role.SUPPORT


def test_unknown_and_revoked_tokens_find_nobody(db_session: Session) -> None:
    user = create_user(db_session, email="ann@example.test", role=Role.ADMIN, now=NOW)
    secret = create_token(db_session, user, name="x", now=NOW)
    assert principal_for_token(db_session, "bw_nope", NOW) is None
    token = db_session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    assert token is not None
    token.revoked_at = NOW
    assert principal_for_token(db_session, secret, NOW) is None


def test_passwords_are_hashed_with_argon2(db_session: Session) -> None:
    user = create_user(db_session, email="pat@example.test", role=Role.ACCOUNT_MANAGER, now=NOW,
                       password="correct horse")
    assert user.password_hash is not None
    assert user.password_hash.startswith("$argon2")
    assert verify_password(user.password_hash, "correct horse")
    assert not verify_password(user.password_hash, "wrong")


def test_e_mail_addresses_are_unique(db_session: Session) -> None:
    create_user(db_session, email="dup@example.test", role=Role.ADMIN, now=NOW)
    with pytest.raises(Conflict):
        create_user(db_session, email="DUP@example.test", role=Role.SUPPORT, now=NOW)


def test_unknown_roles_are_refused() -> None:
    with pytest.raises(BellwetherError, match="unknown role 'owner'"):
        parse_role("owner")


def test_the_bootstrap_admin_token_is_created_once(db_session: Session) -> None:
    ensure_admin_token(db_session, "bw_bootstrap-secret", NOW)
    ensure_admin_token(db_session, "bw_bootstrap-secret", NOW)
    admins = db_session.scalars(select(User).where(User.email == "admin@bellwether.local")).all()
    assert len(admins) == 1
    principal = principal_for_token(db_session, "bw_bootstrap-secret", NOW)
    assert principal is not None
    assert principal.role is Role.ADMIN
