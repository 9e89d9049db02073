"""`bellwether user|token create` as an operator types them, against a real database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from app import main
from core.auth import principal_for_token
from core.db import make_session_factory, session_scope
from core.models import Role


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exited:
        code = int(exited.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_an_agent_token_is_issued_for_its_locations_and_not_without_one(
        engine: Engine, migrated_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BELLWETHER_DATABASE_URL", migrated_url)
    email = f"agents-{uuid.uuid4().hex[:8]}@example.test"
    code, out, _ = run(["user", "create", "--email", email, "--role", "agent",
                        "--password", ""], capsys)
    assert (code, "with role agent" in out) == (0, True)

    code, _, err = run(["token", "create", "--email", email], capsys)
    assert code == 2
    assert "give --location LOCATION" in err

    code, out, _ = run(["token", "create", "--email", email, "--location", "loc-a",
                        "--location", "loc-b"], capsys)
    assert code == 0
    secret = out.strip()
    with session_scope(make_session_factory(engine)) as session:
        principal = principal_for_token(session, secret, datetime.now(UTC))
    assert principal is not None
    assert (principal.role, principal.locations) == (Role.AGENT, ("loc-a", "loc-b"))


def test_a_location_on_another_role_s_token_is_refused(
        migrated_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BELLWETHER_DATABASE_URL", migrated_url)
    email = f"sup-{uuid.uuid4().hex[:8]}@example.test"
    assert run(["user", "create", "--email", email, "--role", "support", "--password", ""],
               capsys)[0] == 0
    code, _, err = run(["token", "create", "--email", email, "--location", "loc-a"], capsys)
    assert code == 2
    assert "only agent tokens are bound to locations" in err
