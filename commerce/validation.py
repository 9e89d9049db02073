"""Checks on request bodies of the commerce services: every refusal says what to fix."""

from __future__ import annotations

from typing import Any

from core.errors import BellwetherError


class InvalidInput(BellwetherError):
    code = "invalid_input"


def text_field(body: dict[str, Any], key: str, *, max_len: int, required: bool = True) -> str:
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"'{key}' must be a non-empty string")
    if len(value) > max_len:
        raise InvalidInput(f"'{key}' must be at most {max_len} characters")
    return value.strip()


def int_field(body: dict[str, Any], key: str, *, minimum: int, maximum: int) -> int:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"'{key}' must be a whole number")
    if not minimum <= value <= maximum:
        raise InvalidInput(f"'{key}' must be between {minimum} and {maximum}")
    return value


def currency_field(body: dict[str, Any], key: str = "currency") -> str:
    value = body.get(key, "EUR")
    if not isinstance(value, str) or len(value) != 3 or not value.isalpha():
        raise InvalidInput(f"'{key}' must be a three-letter currency code such as EUR")
    return value.upper()


def product_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The fields of a new product, checked."""
    return {
        "sku": text_field(body, "sku", max_len=100),
        "name": text_field(body, "name", max_len=300),
        "description": text_field(body, "description", max_len=5000, required=False),
        "price_cents": int_field(body, "price_cents", minimum=0, maximum=10**12),
        "currency": currency_field(body),
    }


def paging(args: Any, *, default_limit: int = 20, max_limit: int = 500) -> tuple[int, int]:
    """limit and offset from a query string."""
    try:
        limit = int(args.get("limit", default_limit))
        offset = int(args.get("offset", 0))
    except ValueError:
        raise InvalidInput("'limit' and 'offset' must be whole numbers") from None
    if not 1 <= limit <= max_limit or offset < 0:
        raise InvalidInput(f"'limit' must be 1..{max_limit} and 'offset' at least 0")
    return limit, offset
