"""Assertions with operators, as written in config files and API bodies: `subject op value`.

A condition reads one thing a check observed and compares it with a value:

    status < 500
    header.Content-Type contains json
    json.results.0.price > 0
    json.state == "ready"
    body matches ^\\{"status":
    response_time < 250
    answers contains 192.0.2.10        (DNS)
    rcode == NXDOMAIN                  (DNS)
    packet_loss < 50                   (ICMP, per cent)

The value is read as JSON when it parses as JSON (`200`, `"ready"`, `true`, `null`, `[..]`)
and as the rest of the line otherwise, so `contains json` needs no quotes. Pure: no network.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_CONDITION = re.compile(r"^\s*(\S+)\s+(<|>|==|contains|matches)\s+(.+?)\s*$")
MISSING: Any = object()


class Operator(enum.StrEnum):
    LESS = "<"
    GREATER = ">"
    EQUALS = "=="
    CONTAINS = "contains"
    MATCHES = "matches"


@dataclass(frozen=True, slots=True)
class Condition:
    """One assertion: `subject operator value`.

    >>> c = parse_condition("json.results.0.price < 100", {"json."})
    >>> c.subject, c.operator.value, c.value, str(c)
    ('json.results.0.price', '<', 100, 'json.results.0.price < 100')
    """

    subject: str
    operator: Operator
    value: Any

    def __str__(self) -> str:
        shown = self.value if isinstance(self.value, str) and self.operator in (
            Operator.CONTAINS, Operator.MATCHES) else json.dumps(self.value)
        return f"{self.subject} {self.operator.value} {shown}"


def parse_condition(text: Any, subjects: Iterable[str]) -> Condition:
    """A condition from its text; ValueError says what is wrong. `subjects` are the names the
    check kind observes (a name ending in '.' is a prefix: `header.`, `json.`)."""
    if not isinstance(text, str) or not (match := _CONDITION.match(text)):
        raise ValueError(f"{text!r} is not 'subject operator value' "
                         "(operators: <, >, ==, contains, matches)")
    subject, operator, raw = match[1], Operator(match[2]), match[3]
    allowed = tuple(subjects)
    if not any(subject.startswith(s) and subject != s if s.endswith(".") else subject == s
               for s in allowed):
        raise ValueError(f"{text!r}: the subject must be one of {', '.join(allowed)}")
    value = _value(raw)
    if operator in (Operator.LESS, Operator.GREATER) and not _is_number(value):
        raise ValueError(f"{text!r}: {operator.value} compares numbers")
    if operator is Operator.MATCHES:
        value = raw if not isinstance(value, str) else value
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"{text!r}: not a regular expression ({exc})") from None
    return Condition(subject, operator, value)


def _value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def json_lookup(document: Any, path: str) -> Any:
    """The value at a dotted path (`results.0.id`), or `MISSING`.

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
            return MISSING
    return value


@dataclass(frozen=True, slots=True)
class Observation:
    """What one check (or one HTTP step) saw, as conditions read it.

    `values` hold plain subjects (status, response_time, body, rcode, answers, packet_loss);
    `headers` are keyed by lower-case name; `document` is the parsed JSON body, or MISSING.
    """

    values: Mapping[str, Any]
    headers: Mapping[str, str] | None = None
    document: Any = MISSING

    def read(self, subject: str) -> Any:
        """The observed value of `subject`, or MISSING."""
        if subject.startswith("header."):
            return (self.headers or {}).get(subject.removeprefix("header.").lower(), MISSING)
        if subject.startswith("json."):
            if self.document is MISSING:
                return MISSING
            return json_lookup(self.document, subject.removeprefix("json."))
        return self.values.get(subject, MISSING)


def failed_condition(conditions: Iterable[Condition], seen: Observation) -> str | None:
    """Why the first failing condition fails, or None when every one holds."""
    for condition in conditions:
        actual = seen.read(condition.subject)
        if actual is MISSING:
            return f"{condition.subject} is missing (asserted {condition})"
        if not holds(condition.operator, actual, condition.value):
            return f"{condition.subject} is {_shown(actual)}, asserted {condition}"
    return None


def holds(operator: Operator, actual: Any, expected: Any) -> bool:
    """Whether `actual operator expected` is true; a list holds when an element does
    (`contains`, `matches`) or when it has exactly the expected elements (`==`)."""
    if operator is Operator.EQUALS:
        return _equals(actual, expected)
    if operator in (Operator.LESS, Operator.GREATER):
        number = _number(actual)
        if number is None:
            return False
        return bool(number < expected if operator is Operator.LESS else number > expected)
    if operator is Operator.CONTAINS:
        return _contains(actual, expected)
    pattern = re.compile(str(expected))
    items = actual if isinstance(actual, list) else [actual]
    return any(pattern.search(_text(item)) for item in items)


def _equals(actual: Any, expected: Any) -> bool:
    if isinstance(actual, list) and not isinstance(expected, list):
        expected = [expected]
    if isinstance(actual, list):
        return sorted(map(_text, actual)) == sorted(map(_text, expected))
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected  # true is not 1, as JSON sees it
    if _is_number(expected) and not isinstance(actual, bool):
        number = _number(actual)
        return number is not None and number == expected
    if isinstance(actual, str) and not isinstance(expected, str):
        return actual == _text(expected)
    return bool(actual == expected)


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, list):
        return any(_equals(item, expected) for item in actual)
    if isinstance(actual, dict):
        return _text(expected) in actual
    return _text(expected) in _text(actual)


def _number(value: Any) -> float | None:
    if _is_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
