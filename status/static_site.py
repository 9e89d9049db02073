"""The static copy of the public site, answered before Flask.

The publish job keeps every public page, JSON document and feed as files (status.publish),
and the stylesheets and scripts those pages load (plotly.js among them: 4.8 MB, 1.5 MB
gzipped, the largest thing a visitor fetches).
Answering those from memory, without Flask's request machinery, keeps the status page cheap
during a rush (docs/benchmarks.md, "Status page under load"). Everything else goes on to
Flask: a file the copy does not have (yet), a query string (`?region=`, `?page=`), a Range
request, any method but GET and HEAD, forms, the admin and the API.

A file's bytes and headers stay in memory per path until its inode, mtime or size changes;
the publisher renames new files into place, so the next request after a publish sees them.
Headers are the ones Flask sends for the same document: `document_headers()` here and
`core.headers.security_headers()` are shared with the Flask views. The embeds (status.embed)
carry the frameable variant of those headers, as Flask sends them; every other file refuses
to be framed.

Beside a document the publisher may leave `<file>.gz`, its gzip compression (status.publish).
A client whose Accept-Encoding takes gzip gets those bytes with `Content-Encoding: gzip` and
an ETag of its own; both variants say `Vary: Accept-Encoding`. The .gz is used only while it
decompresses to the file's current bytes: the two are renamed into place one after the
other, and a reader between the renames keeps answering the identity bytes.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING

from werkzeug.http import generate_etag, http_date, is_resource_modified, quote_etag

from core.headers import security_headers
from status.badges import UPTIME_DAYS
from status.embed import is_embed_file
from status.publish import GZIP_SUFFIX, is_gzip_of
from status.render import JSON_DOCUMENTS

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

CACHE_CONTROL = "public, max-age=5"
HTML = "text/html; charset=utf-8"
JSON = "application/json"
ATOM = "application/atom+xml; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"
CSS = "text/css; charset=utf-8"
SCRIPT = "text/javascript; charset=utf-8"
SVG = "image/svg+xml; charset=utf-8"
#: What Flask says of the same asset: plotly.js (status.public) is kept a day, our own
#: stylesheets and scripts are revalidated (their names do not change between releases).
PLOTLY_MAX_AGE_S = 86400
ASSET_CACHE_CONTROL = {"plotly.min.js": f"public, max-age={PLOTLY_MAX_AGE_S}"}
ASSET_REVALIDATE = "no-cache"
VARY = ("Vary", "Accept-Encoding")

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"  # never "." or "..": no way out of the directory
_REGION = _NAME
_DOCUMENT = "|".join(re.escape(name) for name in JSON_DOCUMENTS)
_DAYS = "|".join(str(days) for days in UPTIME_DAYS)
_COMPONENT = rf"/regions/(?P<region>{_REGION})/components/(?P<component>{_NAME})"
#: Public URL path → file of the static copy (as status.publish.site_files names it).
ROUTES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"/"), "index.html", HTML),
    (re.compile(rf"/regions/(?P<region>{_REGION})/"), "regions/{region}/index.html", HTML),
    (re.compile(r"/incidents/(?P<id>[1-9][0-9]{0,9})"), "incidents/{id}/index.html", HTML),
    (re.compile(r"/maintenances/(?P<id>[1-9][0-9]{0,9})"), "maintenances/{id}/index.html",
     HTML),
    (re.compile(r"/feed\.atom"), "feed.atom", ATOM),
    (re.compile(r"/history\.atom"), "history.atom", ATOM),
    (re.compile(r"/history\.rss"), "history.rss", RSS),
    (re.compile(rf"/regions/(?P<region>{_REGION})/latency\.json"),
     "regions/{region}/latency.json", JSON),
    (re.compile(rf"/regions/(?P<region>{_REGION})/feed\.atom"), "regions/{region}/feed.atom",
     ATOM),
    (re.compile(rf"/regions/(?P<region>{_REGION})/history\.atom"),
     "regions/{region}/history.atom", ATOM),
    (re.compile(rf"/regions/(?P<region>{_REGION})/history\.rss"),
     "regions/{region}/history.rss", RSS),
    (re.compile(rf"/api/v2/(?P<name>{_DOCUMENT})\.json"), "api/v2/{name}.json", JSON),
    (re.compile(rf"/api/v2/regions/(?P<region>{_REGION})/(?P<name>{_DOCUMENT})\.json"),
     "api/v2/regions/{region}/{name}.json", JSON),
    (re.compile(rf"/static/(?P<name>{_NAME}\.css)"), "static/{name}", CSS),
    (re.compile(rf"/static/(?P<name>{_NAME}\.js)"), "static/{name}", SCRIPT),
    (re.compile(r"/embed"), "embed.html", HTML),
    (re.compile(rf"/regions/(?P<region>{_REGION})/embed"), "regions/{region}/embed.html", HTML),
    (re.compile(rf"/regions/(?P<region>{_REGION})/badge\.svg"), "regions/{region}/badge.svg",
     SVG),
    (re.compile(rf"{_COMPONENT}/badge\.svg"), "regions/{region}/components/{component}/badge.svg",
     SVG),
    (re.compile(rf"{_COMPONENT}/uptime-(?P<days>{_DAYS})d\.svg"),
     "regions/{region}/components/{component}/uptime-{days}d.svg", SVG),
)


def published_file(path: str) -> tuple[str, str] | None:
    """The static copy's (relative file, Content-Type) for a public URL path, or None."""
    for pattern, template, content_type in ROUTES:
        found = pattern.fullmatch(path)
        if found is not None:
            return template.format(**found.groupdict()), content_type
    return None


def document_headers(content_type: str) -> dict[str, str]:
    """What every public document carries beside the security headers, from the copy or
    from Flask: a short shared cache life (a rush is absorbed by any cache on the way), and
    CORS on the JSON, which other sites embed."""
    headers = {"Cache-Control": CACHE_CONTROL}
    if content_type.partition(";")[0].strip() == JSON:
        headers["Access-Control-Allow-Origin"] = "*"
    return headers


@lru_cache(maxsize=64)  # browsers send a handful of distinct values
def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding value takes gzip (RFC 9110 §12.5.3): `gzip` (or `x-gzip`)
    with q > 0, or else `*` with q > 0; `gzip;q=0` refuses it, and so does a q we cannot
    read. No value at all gets the identity bytes."""
    named: list[float] = []
    wildcard: float | None = None
    for member in accept_encoding.split(","):
        coding, _, parameters = member.partition(";")
        coding = coding.strip().lower()
        if coding in ("gzip", "x-gzip"):
            named.append(_quality(parameters))
        elif coding == "*":
            wildcard = _quality(parameters)
    if named:
        return max(named) > 0
    return wildcard is not None and wildcard > 0


def _quality(parameters: str) -> float:
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value.strip()), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


Stamp = tuple[int, int, int]  # inode, mtime (ns), size: a rename or rewrite changes it


@dataclass(frozen=True, slots=True)
class Variant:
    """One encoding of a published file as answered: bytes, ETag and both header lists."""

    body: bytes
    etag: str
    full_headers: list[tuple[str, str]]  # of a 200
    not_modified_headers: list[tuple[str, str]]  # of a 304: no body, so no Content-*


@dataclass(frozen=True, slots=True)
class PublishedFile:
    """One file of the copy: its identity bytes and, when the .gz beside it holds the same
    bytes compressed, the gzip variant."""

    stamp: tuple[Stamp, Stamp | None]  # of the file and of its .gz
    modified: datetime
    identity: Variant
    gzip: Variant | None

    def variant(self, environ: WSGIEnvironment) -> Variant:
        """The variant this request gets: gzip when it has one and the client takes it."""
        if self.gzip is not None and accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING", "")):
            return self.gzip
        return self.identity


def _stamp(info: os.stat_result) -> Stamp:
    return info.st_ino, info.st_mtime_ns, info.st_size


def _stamp_of(path: str) -> Stamp | None:
    try:
        return _stamp(os.stat(path))
    except OSError:
        return None


def _read(path: str) -> tuple[bytes, os.stat_result] | None:
    """A regular file's bytes and the stat of the very file read (even if renamed over
    since), or None: not published (yet), gone, or not a file."""
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                return None
            return handle.read(), info
    except OSError:
        return None


def _packed_copy_of(body: bytes, packed: bytes) -> bool:
    """Whether `packed` is `body` compressed (and worth sending: smaller)."""
    return len(packed) < len(body) and is_gzip_of(packed, body)


class StaticSite:
    """WSGI middleware: GET/HEAD of a published page from the static copy; the rest to `app`.

    `directory` says where the copy is, or None while there is none to serve yet (the app
    keeps it in `runtime.parts["public_dir"]`, set once the copy is fresh).
    """

    def __init__(self, app: WSGIApplication, directory: Callable[[], object],
                 https: bool = False) -> None:
        self.app = app
        self.directory = directory
        self.security = list(security_headers(https).items())
        self.frameable = list(security_headers(https, frameable=True).items())
        self._files: dict[str, PublishedFile] = {}

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        published = self.find(environ)
        if published is None:
            return self.app(environ, start_response)
        variant = published.variant(environ)
        if _is_conditional(environ) and not is_resource_modified(
                environ, variant.etag, last_modified=published.modified):
            start_response("304 Not Modified", variant.not_modified_headers)
            return []
        start_response("200 OK", variant.full_headers)
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [variant.body]

    def find(self, environ: WSGIEnvironment) -> PublishedFile | None:
        """The published file this request asks for, or None to let Flask answer it."""
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD") or environ.get("QUERY_STRING") \
                or "HTTP_RANGE" in environ:
            return None
        route = published_file(environ.get("PATH_INFO", ""))
        directory = self.directory()
        if route is None or not isinstance(directory, str | os.PathLike):
            return None
        security = self.frameable if is_embed_file(route[0]) else self.security
        return self._load(os.path.join(directory, route[0]), route[1], security)

    def _load(self, path: str, content_type: str,
              security: list[tuple[str, str]]) -> PublishedFile | None:
        """The cached file while it and its .gz are unchanged on disk, else read afresh
        (None: no file)."""
        current = _stamp_of(path)
        cached = self._files.get(path)
        if current is None:
            self._files.pop(path, None)
            return None
        if cached is not None and cached.stamp == (current, _stamp_of(path + GZIP_SUFFIX)):
            return cached
        read = _read(path)
        if read is None:
            self._files.pop(path, None)
            return None
        published = self._describe(path, *read, _read(path + GZIP_SUFFIX), content_type,
                                   security)
        self._files[path] = published
        return published

    def _describe(self, path: str, body: bytes, info: os.stat_result,
                  packed: tuple[bytes, os.stat_result] | None,
                  content_type: str, security: list[tuple[str, str]]) -> PublishedFile:
        etag = generate_etag(body)  # what Flask's add_etag() gives the same bytes
        modified = datetime.fromtimestamp(int(info.st_mtime), UTC)
        common = [("Last-Modified", http_date(modified)), VARY,
                  *_headers_of(os.path.basename(path), content_type).items(),
                  *security]
        identity = _variant(body, etag, content_type, common)
        gzipped = None
        if packed is not None and _packed_copy_of(body, packed[0]):
            gzipped = _variant(packed[0], f"{etag}-gzip", content_type, common,
                               [("Content-Encoding", "gzip")])
        return PublishedFile((_stamp(info), packed and _stamp(packed[1])), modified,
                             identity, gzipped)


def _headers_of(name: str, content_type: str) -> dict[str, str]:
    """A document's headers, or an asset's cache life as Flask gives it."""
    if content_type in (CSS, SCRIPT):
        return {"Cache-Control": ASSET_CACHE_CONTROL.get(name, ASSET_REVALIDATE)}
    return document_headers(content_type)


def _variant(body: bytes, etag: str, content_type: str, common: list[tuple[str, str]],
             encoding: list[tuple[str, str]] | None = None) -> Variant:
    validators = [("ETag", quote_etag(etag)), *common]
    full = [("Content-Type", content_type), *(encoding or []),
            ("Content-Length", str(len(body))), *validators]
    return Variant(body, etag, full, validators)


def _is_conditional(environ: WSGIEnvironment) -> bool:
    return "HTTP_IF_NONE_MATCH" in environ or "HTTP_IF_MODIFIED_SINCE" in environ
