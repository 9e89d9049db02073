"""The maintenance file of `sla compute`: a JSON list of windows, errors by line.

The list is decoded one window at a time so that a window that makes no sense (it ends
before it starts, say) can be reported with the line it starts on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime

from sla.model import InvalidWindow, MaintenanceWindow
from sla.period import parse_instant

_SPACE = re.compile(r"[ \t\r\n]*")


def _skip_space(text: str, position: int) -> int:
    match = _SPACE.match(text, position)
    return match.end() if match else position


def _line_at(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


def _list_elements(text: str) -> Iterator[tuple[int, object]]:
    """(line, value) of each element of the JSON list `text`; InvalidWindow naming the line."""
    decoder = json.JSONDecoder()
    position = _skip_space(text, 0)
    if not text.startswith("[", position):
        raise InvalidWindow(f"line {_line_at(text, position)}: expected a JSON list of windows")
    position = _skip_space(text, position + 1)
    more = not text.startswith("]", position)
    while more:
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise InvalidWindow(f"line {error.lineno}: not JSON ({error.msg})") from None
        except RecursionError:
            raise InvalidWindow(f"line {_line_at(text, position)}: not JSON "
                                "(nested too deeply)") from None
        yield _line_at(text, position), value
        position = _skip_space(text, end)
        more = text.startswith(",", position)
        if more:
            position = _skip_space(text, position + 1)
    if not text.startswith("]", position):
        raise InvalidWindow(f"line {_line_at(text, position)}: expected ',' or ']'")
    rest = _skip_space(text, position + 1)
    if rest != len(text):
        raise InvalidWindow(f"line {_line_at(text, rest)}: unexpected text after the list")


def _instant(record: dict[str, object], name: str) -> datetime:
    value = record.get(name)
    at = parse_instant(value) if isinstance(value, str) else None
    if at is None:
        raise InvalidWindow(f'"{name}" must be an ISO 8601 time with Z or an offset')
    return at


def _names(record: dict[str, object], name: str) -> frozenset[str]:
    value = record.get(name)
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidWindow(f'"{name}" must be a list of names')
    return frozenset(value)


def window_of(record: object) -> MaintenanceWindow:
    """One decoded window; omitted, null or empty `components` / `regions` mean all."""
    if not isinstance(record, dict):
        raise InvalidWindow("a window must be a JSON object")
    return MaintenanceWindow(start=_instant(record, "start"), end=_instant(record, "end"),
                             components=_names(record, "components"),
                             regions=_names(record, "regions"))


def parse_windows(text: str, source: str) -> list[MaintenanceWindow]:
    """The windows of a maintenance file; errors name `source` and the line."""
    windows: list[MaintenanceWindow] = []
    try:
        for line, record in _list_elements(text):
            try:
                windows.append(window_of(record))
            except InvalidWindow as error:
                raise InvalidWindow(f"line {line}: {error.detail}") from None
    except InvalidWindow as error:
        raise InvalidWindow(f"{source}, {error.detail}") from None
    return windows
