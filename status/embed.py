"""The embed: a small script-free page (templates/public/embed.html) with the current
status of the whole page or of one region, which other sites put in an iframe.

It is the one public page other sites may frame: its answers carry
`core.headers.FRAMEABLE_CSP` (any frame ancestor, no X-Frame-Options), from Flask and from
the static copy alike; every other page keeps refusing to be framed.
"""

from __future__ import annotations

from jinja2 import Environment

from status.page import StatusPage
from status.render import render_html

#: The static copy's files of the embed, as status.publish writes them.
PAGE_FILE = "embed.html"
REGION_FILE = "regions/{region}/embed.html"


def embed_html(env: Environment, page: StatusPage, region: str | None = None) -> str:
    """The embed of `page` (built for `region` when one is given)."""
    view = page.region(region) if region is not None else None
    return render_html(env, "embed.html", page, region=view)


def is_embed_file(relative: str) -> bool:
    """Whether a file of the static copy is an embed (and so may be framed)."""
    parts = relative.split("/")
    return relative == PAGE_FILE or (
        len(parts) == 3 and parts[0] == "regions" and parts[2] == PAGE_FILE)
