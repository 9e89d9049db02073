"""Rendering a `StatusPage` to the files the public sees: HTML pages, Statuspage JSON, Atom.

One Jinja environment (autoescape on) serves the web views and the static publisher alike,
so a page served by Bellwether and its static copy are the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from status import feeds
from status.page import STATE_WORDS, TIER_NAMES, StatusPage

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
#: Every public document of Statuspage's API v2, by its path under /api/v2 (no `.json`).
JSON_DOCUMENTS = tuple(feeds.DOCUMENTS)


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
    if name not in feeds.DOCUMENTS:
        raise KeyError(name)
    return feeds.DOCUMENTS[name](page)


def dumps(document: Mapping[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), sort_keys=False)
