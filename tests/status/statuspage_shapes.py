"""Compare a JSON document with the Statuspage v2 shapes in fixtures/statuspage_v2.json
(written from Statuspage's public docs): every field Statuspage has, of its type and, for
enumerations, one of its values. Fields of our own beside them are allowed."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHAPES: dict[str, Any] = json.loads((FIXTURES / "statuspage_v2.json").read_text())
#: How Statuspage writes a time: milliseconds always, then Z or an offset.
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]\d{2}:\d{2})")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

SCALARS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "timestamp": lambda v: isinstance(v, str) and TIMESTAMP.fullmatch(v) is not None,
    "date": lambda v: isinstance(v, str) and DATE.fullmatch(v) is not None,
    "url": lambda v: isinstance(v, str) and v.startswith(("https://", "http://")),
    "null": lambda v: v is None,
}


def differences(document: Any, name: str) -> list[str]:
    """What in `document` (the endpoint `name`) a Statuspage client would find missing or
    of another type or value; empty when none."""
    found: list[str] = []
    _check_object(document, SHAPES["documents"][name], name, found)
    return found


def _fields(shape_name: str) -> dict[str, Any]:
    shape = dict(SHAPES["objects"][shape_name])
    parent = shape.pop("_extends", None)
    return {**(_fields(parent) if parent else {}), **shape}


def _check_object(value: Any, fields: dict[str, Any], path: str, found: list[str]) -> None:
    if not isinstance(value, dict):
        found.append(f"{path}: an object expected, got {value!r:.60}")
        return
    for key, spec in fields.items():
        if key not in value:
            found.append(f"{path}.{key}: missing")
            continue
        _check(value[key], spec, f"{path}.{key}", found)


def _check(value: Any, spec: Any, path: str, found: list[str]) -> None:
    if isinstance(spec, list):
        _check_list(value, spec[0], path, found)
    elif isinstance(spec, dict):
        _check_object(value, spec, path, found)
    elif not (spec.endswith("?") and value is None):
        _check_named(value, spec.rstrip("?"), path, found)


def _check_list(value: Any, element: Any, path: str, found: list[str]) -> None:
    if isinstance(element, str) and element.endswith("?"):
        if value is None:
            return
        element = element[:-1]
    if not isinstance(value, list):
        found.append(f"{path}: a list expected, got {value!r:.60}")
        return
    for i, item in enumerate(value):
        _check(item, element, f"{path}[{i}]", found)


def _check_named(value: Any, spec: str, path: str, found: list[str]) -> None:
    if spec.startswith("enum:"):
        allowed = SHAPES["enums"][spec[5:]]
        if value not in allowed:
            found.append(f"{path}: {value!r} is not one of {allowed}")
    elif spec in SCALARS:
        if not SCALARS[spec](value):
            found.append(f"{path}: {value!r:.60} is not a {spec}")
    else:
        _check_object(value, _fields(spec), path, found)
        if spec == "component" and isinstance(value, dict) and value.get("group") is True:
            _check_object(value, _fields("group_component"), path, found)
