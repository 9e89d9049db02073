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
    require_locations,
    verify_password,
)
from core.errors import BellwetherError, Conflict, Forbidden
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


def test_an_agent_token_carries_the_locations_it_was_issued_for(db_session: Session) -> None:
    agent = create_user(db_session, email="edge@example.test", role=Role.AGENT, now=NOW)
    secret = create_token(db_session, agent, name="edge", now=NOW,
                          locations=["loc-a", "loc-b", "loc-a"])
    principal = principal_for_token(db_session, secret, NOW)
    assert principal is not None
    assert principal.locations == ("loc-a", "loc-b")
    require_locations(principal, {"loc-b"})
    with pytest.raises(Forbidden, match="not for location loc-c") as refused:
        require_locations(principal, {"loc-a", "loc-c"})
    assert (refused.value.status, refused.value.code) == (403, "location_not_allowed")


def test_a_token_without_locations_may_not_submit_unless_it_is_an_admins(
        db_session: Session) -> None:
    agent = create_user(db_session, email="old@example.test", role=Role.AGENT, now=NOW)
    admin = create_user(db_session, email="op@example.test", role=Role.ADMIN, now=NOW)
    unbound = principal_for_token(db_session, create_token(db_session, agent, name="old",
                                                           now=NOW), NOW)
    operator = principal_for_token(db_session, create_token(db_session, admin, name="op",
                                                            now=NOW), NOW)
    assert unbound is not None
    assert operator is not None
    with pytest.raises(Forbidden, match="reissue with --location"):
        require_locations(unbound, {"loc-a"})
    require_locations(operator, {"loc-a", "anywhere"})


def test_only_agent_tokens_take_locations_and_only_valid_names(db_session: Session) -> None:
    support = create_user(db_session, email="sup@example.test", role=Role.SUPPORT, now=NOW)
    with pytest.raises(BellwetherError, match="only agent tokens"):
        create_token(db_session, support, name="x", now=NOW, locations=["loc-a"])
    agent = create_user(db_session, email="ag@example.test", role=Role.AGENT, now=NOW)
    with pytest.raises(BellwetherError, match="not a location name"):
        create_token(db_session, agent, name="x", now=NOW, locations=["Loc A"])
