"""Rendering a `StatusPage` to the files the public sees: HTML pages, Statuspage JSON, Atom.

One Jinja environment (autoescape on) serves the web views and the static publisher alike,
so a page served by Bellwether and its static copy are the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from status import feeds
from status.page import STATE_WORDS, TIER_NAMES, StatusPage

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
JSON_DOCUMENTS = ("summary", "status", "components", "incidents", "incidents/unresolved",
                  "scheduled-maintenances")


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals.update(state_words=STATE_WORDS, tier_names=TIER_NAMES)
    env.filters["when"] = lambda value: "" if value is None else value.strftime(
        "%Y-%m-%d %H:%M UTC")
    return env


def render_html(env: Environment, template: str, page: StatusPage, **context: Any) -> str:
    return env.get_template(f"public/{template}").render(page=page, **context)


def json_document(page: StatusPage, name: str) -> dict[str, Any]:
    """One of the Statuspage v2 documents by its path name (`incidents/unresolved` …)."""
    documents: dict[str, Callable[[StatusPage], dict[str, Any]]] = {
        "summary": feeds.summary_json, "status": feeds.status_json,
        "components": feeds.components_json, "incidents": feeds.incidents_json,
        "incidents/unresolved": lambda p: feeds.incidents_json(p, unresolved_only=True),
        "scheduled-maintenances": feeds.maintenances_json,
    }
    if name not in documents:
        raise KeyError(name)
    result: dict[str, Any] = documents[name](page)
    return result


def dumps(document: Mapping[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), sort_keys=False)
