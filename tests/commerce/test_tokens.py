from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from commerce.tokens import issue_token, verify_token
from core.errors import Unauthorized

NOW = datetime(2026, 10, 1, tzinfo=UTC)


def test_a_token_names_its_project_until_it_expires() -> None:
    token = issue_token("s3cret", "shop", NOW + timedelta(minutes=5))
    assert verify_token("s3cret", token, NOW).project_key == "shop"
    with pytest.raises(Unauthorized, match="expired"):
        verify_token("s3cret", token, NOW + timedelta(minutes=5))


def test_a_token_from_another_region_or_tampered_is_refused() -> None:
    token = issue_token("s3cret", "shop", NOW + timedelta(minutes=5))
    with pytest.raises(Unauthorized, match="signature"):
        verify_token("other-region-secret", token, NOW)
    with pytest.raises(Unauthorized, match="signature"):
        verify_token("s3cret", token.replace("shop", "shoq", 1), NOW)
    with pytest.raises(Unauthorized, match="malformed"):
        verify_token("s3cret", "garbage", NOW)


def test_a_token_never_lives_shorter_than_asked() -> None:
    issued = datetime(2026, 3, 1, 12, 0, 0, 999_000, tzinfo=UTC)
    token = issue_token("s3cret", "shop", issued + timedelta(seconds=1))
    assert verify_token("s3cret", token, issued + timedelta(seconds=1)).project_key == "shop"
    with pytest.raises(Unauthorized):
        verify_token("s3cret", token, issued + timedelta(seconds=2))
