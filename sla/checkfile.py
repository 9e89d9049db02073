"""The checks file of `sla compute`: one JSON check a line, read fast and exactly.

Most lines have the probes' own shape (`json.dumps` of the contract's keys, in its order),
which a regular expression reads in under half the time `json.loads` takes; anything else
goes through `json.loads`. Both give the same check for
every valid line, and every error names the file and the line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from sla.collect import MonthCollector
from sla.model import InvalidCheck
from sla.period import micros_of, parse_instant

_TEXT = r'"([^"\\\x00-\x1f]+)"'  # a JSON string with no escapes: it means what it says
_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?"
CANONICAL_LINE = re.compile(
    r'\{"component": ' + _TEXT + r', "region": ' + _TEXT + r', "location": ' + _TEXT
    + r', "at": ' + _TEXT + r', "ok": (true|false), "latency_ms": (?:null|' + _NUMBER
    + r")\}[ \t\r\n]*")
_JSON_SPACE = " \t\r\n"
_TEXT_FIELDS = ("component", "region", "location", "at")
# `YYYY-MM-DDTHH:MM:` and a zone: the shape whose seconds the cache may add on.
_MINUTE_AND_ZONE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:(?:Z|[+-][0-9]{2}:[0-9]{2})")
_SECONDS = {f"{second:02d}": second * 1_000_000 for second in range(60)}


class InstantReader:
    """`at` texts to epoch microseconds, remembering each minute: checks share few minutes.

    Only `YYYY-MM-DDTHH:MM:SS` with `Z` or `±HH:MM` takes the cached path, where the
    seconds cannot mean anything else; every other form goes to `datetime.fromisoformat`.
    """

    def __init__(self, max_cached: int = 100_000) -> None:
        self._minutes: dict[str, int] = {}
        self._max_cached = max_cached  # two months of minutes; a longer file starts over

    def micros(self, text: str) -> int:
        """Microseconds since the epoch of an ISO 8601 time with a zone."""
        if len(text) in (20, 25):
            seconds = _SECONDS.get(text[17:19])
            if seconds is not None:
                key = text[:17] + text[19:]
                minute = self._minutes.get(key)
                if minute is None and _MINUTE_AND_ZONE.fullmatch(key):
                    minute = self._remember(key, text[:17] + "00" + text[19:], text)
                if minute is not None:
                    return minute + seconds
        return _micros_of(text, text)

    def _remember(self, key: str, minute_text: str, text: str) -> int:
        if len(self._minutes) >= self._max_cached:
            self._minutes.clear()
        minute = self._minutes[key] = _micros_of(minute_text, text)
        return minute


def _micros_of(parsed: str, shown: str) -> int:
    """Parse `parsed`; an error quotes `shown`, the text the file holds."""
    at = parse_instant(parsed)
    if at is None:
        raise InvalidCheck(f'"at" {shown!r} is not an ISO 8601 time with Z or an offset')
    return micros_of(at)


def _text_field(record: dict[str, object], name: str) -> str:
    if name not in record:
        raise InvalidCheck(f'missing field "{name}"')
    value = record[name]
    if not isinstance(value, str) or not value:
        raise InvalidCheck(f'"{name}" must be a non-empty string')
    return value


def check_fields(record: object) -> tuple[str, str, str, str, bool]:
    """(component, region, location, at, ok) of a decoded line, or why it is not a check."""
    if not isinstance(record, dict):
        raise InvalidCheck("a check must be a JSON object")
    component, region, location, at = (_text_field(record, name) for name in _TEXT_FIELDS)
    if "ok" not in record:
        raise InvalidCheck('missing field "ok"')
    if not isinstance(record["ok"], bool):
        raise InvalidCheck('"ok" must be true or false')
    latency = record.get("latency_ms")
    if isinstance(latency, bool) or not isinstance(latency, int | float | None):
        raise InvalidCheck('"latency_ms" must be a number or null')
    return component, region, location, at, record["ok"]


def read_checks(lines: Iterable[bytes], source: str, collector: MonthCollector) -> int:
    """Feed each check of a JSONL stream to `collector`; return how many there were.

    Blank lines are skipped. Anything else that is not a check raises `InvalidCheck`
    naming `source` and the line number.
    """
    instants, add, count = InstantReader(), collector.add, 0
    for number, raw in enumerate(lines, 1):
        try:
            line = raw.decode()
            match = CANONICAL_LINE.fullmatch(line)
            if match is not None:
                component, region, location, at, ok = match.group(1, 2, 3, 4, 5)
                add((component, region, location), instants.micros(at), ok == "true")
            elif line.strip(_JSON_SPACE):
                component, region, location, at, is_ok = check_fields(json.loads(line))
                add((component, region, location), instants.micros(at), is_ok)
            else:
                continue
        except InvalidCheck as error:
            raise InvalidCheck(f"{source}, line {number}: {error.detail}") from None
        except UnicodeDecodeError:
            raise InvalidCheck(f"{source}, line {number}: not UTF-8 text") from None
        except json.JSONDecodeError as error:
            raise InvalidCheck(f"{source}, line {number}: not JSON ({error.msg}, "
                               f"column {error.colno})") from None
        except RecursionError:
            raise InvalidCheck(f"{source}, line {number}: not JSON (nested too deeply)") from None
        count += 1
    return count
