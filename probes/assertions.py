"""Judging one HTTP answer against a step's assertions: pure, no network.

A step's `expect` (status list, JSON field, keyword) is checked first, then its conditions
with operators (probes/conditions.py) on status, headers, JSON paths, body and response time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from probes.conditions import MISSING, Observation, failed_condition, json_lookup
from probes.specs import Assertion

__all__ = ["is_missing", "json_lookup", "judge"]


def is_missing(value: Any) -> bool:
    return value is MISSING


def judge(assertion: Assertion, status: int, text: str, document: Any,
          headers: Mapping[str, str] | None = None, elapsed_ms: float = 0.0) -> str | None:
    """Why the answer fails `assertion`, or None when it passes.

    An empty `assertion.status` accepts any status (the conditions then judge it).
    """
    if assertion.status and status not in assertion.status:
        return f"HTTP {status}, expected {'/'.join(map(str, assertion.status))}"
    if assertion.json_field is not None:
        value = json_lookup(document, assertion.json_field)
        if value is MISSING:
            return f"JSON field {assertion.json_field!r} is missing"
        if assertion.json_equals is not None and value != assertion.json_equals:
            return f"JSON field {assertion.json_field!r} is {value!r}, " \
                   f"expected {assertion.json_equals!r}"
    if assertion.keyword is not None and assertion.keyword not in text:
        return f"the body does not contain {assertion.keyword!r}"
    if not assertion.conditions:
        return None
    seen = Observation(
        values={"status": status, "body": text, "response_time": round(elapsed_ms, 3)},
        headers={name.lower(): value for name, value in (headers or {}).items()},
        document=MISSING if document is None else document)
    return failed_condition(assertion.conditions, seen)
