"""The static copy of the public page: every page, JSON document and feed written into a
directory that any static host or CDN can serve while Bellwether or its database is down.

Each file is written to a temporary name and renamed into place, so a reader never sees a
half-written file. Publishing is debounced: nothing is rewritten while nothing changed.

Every HTML page, JSON document and feed also gets `<file>.gz` beside it, when compressing
makes it smaller: status.static_site sends those bytes to clients that take gzip (every
browser), and a static host can do the same (nginx `gzip_static`). The region page's
90 days of bars per component compress about thirtyfold. Its latency charts' data is a
document of its own, `regions/<region>/latency.json` (status.charts), fetched by the page.
The badges (status.badges, `regions/<region>/badge.svg` and per component
`regions/<region>/components/<component>/badge.svg`, `uptime-30d.svg`, `uptime-90d.svg`) and
the embeds (status.embed, `embed.html`, `regions/<region>/embed.html`) are written too, and
so are each region's feeds at Statuspage's names (`regions/<region>/history.atom`,
`history.rss`) and a page per maintenance window shown (`maintenances/<id>/index.html`).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment

from status import feeds
from status.badges import (
    UPTIME_DAYS,
    component_badge,
    region_badge,
    render_svg,
    uptime_badge,
)
from status.embed import PAGE_FILE, REGION_FILE, embed_html
from status.page import StatusPage
from status.render import JSON_DOCUMENTS, dumps, json_document, render_html

STATIC = Path(__file__).resolve().parents[1] / "static"
ASSETS = ("bellwether.css", "status.css", "status-charts.js", "status-days.js")
HISTORY_PAGE_SIZE = 20
#: The files published with a gzip copy beside them: documents, badges, stylesheets and
#: scripts.
COMPRESSED = (".html", ".json", ".atom", ".rss", ".css", ".js", ".svg")
GZIP_SUFFIX = ".gz"  # what status.static_site looks for


@dataclass(frozen=True, slots=True)
class Published:
    files: int
    fingerprint: str
    changed: bool


def write_atomically(path: Path, content: bytes) -> None:
    """Temp file in the same directory, fsync, rename: readers see old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def gzip_copy(content: bytes) -> bytes | None:
    """The bytes of `<file>.gz`, or None when compressing does not make them smaller.
    No name and mtime 0 in the header: the same document always gives the same .gz."""
    packed = gzip.compress(content, compresslevel=9, mtime=0)
    return packed if len(packed) < len(content) else None


Identity = tuple[int, int, int]  # inode, mtime (ns), size
#: What this process last wrote or found at each path it published: the identity of the
#: file and of its .gz (None: absent) then, and a digest of the content. While both still
#: have those identities the pair is known to hold that content, without reading either
#: (a publish read every file back and decompressed every .gz, plotly.js's 4.8 MB too).
#: A file replaced by anyone else has a new inode or mtime, so the memo cannot lie.
_verified: dict[Path, tuple[Identity | None, Identity | None, bytes]] = {}


def _identity(path: Path) -> Identity | None:
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    return found.st_ino, found.st_mtime_ns, found.st_size


def write_document(path: Path, content: bytes) -> bool:
    """Write `path` and its gzip copy unless both already hold `content`; True if written.

    1. The .gz first (or its removal, when compressing no longer pays), then the file, each
       by `write_atomically`. A reader between the two renames sees a .gz that does not
       decompress to the file; status.static_site then answers the file's own bytes.
    2. A file already holding `content` keeps its mtime, so its ETag and Last-Modified (and
       a 304 for browsers holding it) survive a publish that changed other files.
    3. A pair this process wrote or checked, still as it left it, is not read again.
    """
    packed_path = path.with_name(path.name + GZIP_SUFFIX) if path.suffix in COMPRESSED \
        else None
    digest = hashlib.blake2b(content, digest_size=16).digest()
    known = _verified.get(path)
    as_left = known is not None and known[0] is not None and known[0] == _identity(path) \
        and known[1] == (_identity(packed_path) if packed_path else None)
    if as_left and known is not None and known[2] == digest:
        return False
    # As left, the pair holds other content: write both without reading either back.
    written = packed_path is not None and _write_gzip_copy(packed_path, content,
                                                           check=not as_left)
    if as_left or not (path.exists() and path.read_bytes() == content):
        write_atomically(path, content)
        written = True
    _verified[path] = (_identity(path),
                       _identity(packed_path) if packed_path else None, digest)
    return written


def _write_gzip_copy(packed_path: Path, content: bytes, check: bool = True) -> bool:
    """Make `packed_path` hold `content` compressed, or be absent when that is no smaller;
    True if it had to change. `check=False`: it is known not to hold it (not read)."""
    if check and packed_path.exists() and _decompresses_to(packed_path, content):
        return False
    packed = gzip_copy(content)
    if packed is not None:
        write_atomically(packed_path, packed)
        return True
    if packed_path.exists():
        packed_path.unlink()
        return True
    return False


def _decompresses_to(packed_path: Path, content: bytes) -> bool:
    try:
        packed = packed_path.read_bytes()
    except OSError:
        return False
    return is_gzip_of(packed, content)


def is_gzip_of(packed: bytes, content: bytes) -> bool:
    """Whether `packed` decompresses to `content` (the publisher and the static layer both
    check a .gz this way before trusting it)."""
    try:
        return gzip.decompress(packed) == content
    except (OSError, EOFError, zlib.error):  # truncated, or not gzip at all
        return False


def fingerprint(page: StatusPage) -> str:
    """What the page says, without the time it was generated at."""
    summary = feeds.summary_json(page)
    content = dumps(summary) + dumps(feeds.incidents_json(page)["incidents"])
    content += dumps(feeds.maintenances_json(page)["scheduled_maintenances"])
    content += "".join(f"{c.name}{[(b.day, b.down_minutes) for b in c.bars]}"
                       for c in page.components)
    return hashlib.sha256(content.encode()).hexdigest()


def site_files(env: Environment, page: StatusPage, region_pages: dict[str, StatusPage],
               latency: Callable[[StatusPage], str], plotly_js: Path | None,
               ) -> Iterator[tuple[str, bytes]]:
    """Every file of the site as (relative path, bytes); `latency` gives a regional page's
    latency.json."""
    regions = [r.name for r in page.regions]
    yield "index.html", render_html(env, "overview.html", page, all_regions=regions).encode()
    for name in JSON_DOCUMENTS:
        yield f"api/v2/{name}.json", dumps(json_document(page, name)).encode()
    yield "feed.atom", feeds.atom_feed(page, f"{page.url}/feed.atom")
    yield "history.atom", feeds.atom_feed(page, f"{page.url}/history.atom")
    yield "history.rss", feeds.rss_feed(page, f"{page.url}/history.rss")
    for region, regional in region_pages.items():
        view = regional.region(region)
        yield f"regions/{region}/index.html", render_html(
            env, "region.html", regional, region=view, all_regions=regions).encode()
        yield f"regions/{region}/latency.json", latency(regional).encode()
        for name in JSON_DOCUMENTS:
            yield (f"api/v2/regions/{region}/{name}.json",
                   dumps(json_document(regional, name)).encode())
        yield (f"regions/{region}/feed.atom",
               feeds.atom_feed(regional, f"{page.url}/regions/{region}/feed.atom"))
        yield (f"regions/{region}/history.atom",
               feeds.atom_feed(regional, f"{page.url}/regions/{region}/history.atom"))
        yield (f"regions/{region}/history.rss",
               feeds.rss_feed(regional, f"{page.url}/regions/{region}/history.rss"))
        yield REGION_FILE.format(region=region), embed_html(env, regional, region).encode()
        yield from badge_files(regional, region)
    yield PAGE_FILE, embed_html(env, page).encode()
    for incident in page.incidents:
        yield f"incidents/{incident.id}/index.html", render_html(
            env, "incident.html", page, incident=incident, all_regions=regions).encode()
    for window in page.maintenances:
        yield f"maintenances/{window.id}/index.html", render_html(
            env, "maintenance.html", page, window=window, all_regions=regions).encode()
    yield "history/index.html", render_html(
        env, "history.html", page, incidents=page.incidents[:HISTORY_PAGE_SIZE],
        page_number=1, has_more=len(page.incidents) > HISTORY_PAGE_SIZE,
        all_regions=regions).encode()
    for asset in ASSETS:
        yield f"static/{asset}", (STATIC / asset).read_bytes()
    if plotly_js is not None and plotly_js.exists():
        yield "static/plotly.min.js", plotly_js.read_bytes()


def badge_files(regional: StatusPage, region: str) -> Iterator[tuple[str, bytes]]:
    """A region's status badge, and each of its components' status and uptime badges."""
    view = regional.region(region)
    if view is None:
        return
    yield f"regions/{region}/badge.svg", render_svg(region_badge(view)).encode()
    for component in view.components:
        folder = f"regions/{region}/components/{component.component}"
        yield f"{folder}/badge.svg", render_svg(component_badge(component)).encode()
        for days in UPTIME_DAYS:
            yield (f"{folder}/uptime-{days}d.svg",
                   render_svg(uptime_badge(component, days)).encode())


def publish(out_dir: Path, env: Environment, page: StatusPage,
            region_pages: dict[str, StatusPage], latency: Callable[[StatusPage], str],
            plotly_js: Path | None = None, previous: str | None = None,
            force: bool = False) -> Published:
    """Write the site into `out_dir` unless it says what it said at `previous`."""
    mark = fingerprint(page) + "".join(fingerprint(p) for p in region_pages.values())
    mark = hashlib.sha256(mark.encode()).hexdigest()
    if mark == previous and not force:
        return Published(0, mark, changed=False)
    count = 0
    for relative, content in site_files(env, page, region_pages, latency, plotly_js):
        count += write_document(out_dir / relative, content)
    return Published(count, mark, changed=True)
