"""The static copy of the public site, answered before Flask.

The publish job keeps every public page, JSON document and feed as files (status.publish).
Answering those from memory, without Flask's request machinery, keeps the status page cheap
during a rush (docs/benchmarks.md, "Status page under load"). Everything else goes on to
Flask: a file the copy does not have (yet), a query string (`?region=`, `?page=`), a Range
request, any method but GET and HEAD, forms, the admin and the API.

A file's bytes and headers stay in memory per path until its inode, mtime or size changes;
the publisher renames new files into place, so the next request after a publish sees them.
Headers are the ones Flask sends for the same document: `document_headers()` here and
`core.headers.security_headers()` are shared with the Flask views.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from werkzeug.http import generate_etag, http_date, is_resource_modified, quote_etag

from core.headers import security_headers
from status.render import JSON_DOCUMENTS

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

CACHE_CONTROL = "public, max-age=5"
HTML = "text/html; charset=utf-8"
JSON = "application/json"
ATOM = "application/atom+xml; charset=utf-8"

_REGION = r"[A-Za-z0-9][A-Za-z0-9._-]*"  # never "." or "..": no way out of the directory
_DOCUMENT = "|".join(re.escape(name) for name in JSON_DOCUMENTS)
#: Public URL path → file of the static copy (as status.publish.site_files names it).
ROUTES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"/"), "index.html", HTML),
    (re.compile(rf"/regions/(?P<region>{_REGION})/"), "regions/{region}/index.html", HTML),
    (re.compile(r"/incidents/(?P<id>[1-9][0-9]{0,9})"), "incidents/{id}/index.html", HTML),
    (re.compile(r"/feed\.atom"), "feed.atom", ATOM),
    (re.compile(rf"/regions/(?P<region>{_REGION})/feed\.atom"), "regions/{region}/feed.atom",
     ATOM),
    (re.compile(rf"/api/v2/(?P<name>{_DOCUMENT})\.json"), "api/v2/{name}.json", JSON),
    (re.compile(rf"/api/v2/regions/(?P<region>{_REGION})/(?P<name>{_DOCUMENT})\.json"),
     "api/v2/regions/{region}/{name}.json", JSON),
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


@dataclass(frozen=True, slots=True)
class PublishedFile:
    """One file of the copy as it is answered: bytes, validators and both header lists."""

    stamp: tuple[int, int, int]  # inode, mtime (ns), size: a rename or rewrite changes it
    body: bytes
    etag: str
    modified: datetime
    full_headers: list[tuple[str, str]]  # of a 200
    not_modified_headers: list[tuple[str, str]]  # of a 304: no body, so no Content-*


def _stamp(info: os.stat_result) -> tuple[int, int, int]:
    return info.st_ino, info.st_mtime_ns, info.st_size


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
        self._files: dict[str, PublishedFile] = {}

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        published = self.find(environ)
        if published is None:
            return self.app(environ, start_response)
        if _is_conditional(environ) and not is_resource_modified(
                environ, published.etag, last_modified=published.modified):
            start_response("304 Not Modified", published.not_modified_headers)
            return []
        start_response("200 OK", published.full_headers)
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [published.body]

    def find(self, environ: WSGIEnvironment) -> PublishedFile | None:
        """The published file this request asks for, or None to let Flask answer it."""
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD") or environ.get("QUERY_STRING") \
                or "HTTP_RANGE" in environ:
            return None
        route = published_file(environ.get("PATH_INFO", ""))
        directory = self.directory()
        if route is None or not isinstance(directory, str | os.PathLike):
            return None
        return self._load(os.path.join(directory, route[0]), route[1])

    def _load(self, path: str, content_type: str) -> PublishedFile | None:
        """The cached file while it is unchanged on disk, else read afresh (None: no file)."""
        try:
            info = os.stat(path)
            cached = self._files.get(path)
            if cached is not None and cached.stamp == _stamp(info):
                return cached
            with open(path, "rb") as handle:
                info = os.fstat(handle.fileno())  # the file read, even if renamed over since
                body = handle.read() if stat.S_ISREG(info.st_mode) else None
        except OSError:  # not published (yet), or gone
            self._files.pop(path, None)
            return None
        if body is None:
            return None
        published = self._describe(body, info, content_type)
        self._files[path] = published
        return published

    def _describe(self, body: bytes, info: os.stat_result, content_type: str) -> PublishedFile:
        etag = generate_etag(body)  # what Flask's add_etag() gives the same bytes
        modified = datetime.fromtimestamp(int(info.st_mtime), UTC)
        common = [("ETag", quote_etag(etag)), ("Last-Modified", http_date(modified)),
                  *document_headers(content_type).items(), *self.security]
        full = [("Content-Type", content_type), ("Content-Length", str(len(body))), *common]
        return PublishedFile(_stamp(info), body, etag, modified, full, common)


def _is_conditional(environ: WSGIEnvironment) -> bool:
    return "HTTP_IF_NONE_MATCH" in environ or "HTTP_IF_MODIFIED_SINCE" in environ
