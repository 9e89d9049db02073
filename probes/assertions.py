"""Judging one HTTP answer against a step's assertions: pure, no network."""

from __future__ import annotations

from typing import Any

from probes.specs import Assertion

_MISSING = object()


def json_lookup(document: Any, path: str) -> Any:
    """The value at a dotted path (`results.0.id`), or `_MISSING`.

    >>> json_lookup({"results": [{"id": "p1"}]}, "results.0.id")
    'p1'
    """
    value = document
    for part in path.split("."):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return _MISSING
    return value


def is_missing(value: Any) -> bool:
    return value is _MISSING


def judge(assertion: Assertion, status: int, text: str, document: Any) -> str | None:
    """Why the answer fails `assertion`, or None when it passes."""
    if status not in assertion.status:
        return f"HTTP {status}, expected {'/'.join(map(str, assertion.status))}"
    if assertion.json_field is not None:
        value = json_lookup(document, assertion.json_field)
        if value is _MISSING:
            return f"JSON field {assertion.json_field!r} is missing"
        if assertion.json_equals is not None and value != assertion.json_equals:
            return f"JSON field {assertion.json_field!r} is {value!r}, " \
                   f"expected {assertion.json_equals!r}"
    if assertion.keyword is not None and assertion.keyword not in text:
        return f"the body does not contain {assertion.keyword!r}"
    return None
