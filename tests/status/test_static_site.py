"""The static copy answered before Flask: the same bytes and headers as Flask's answer,
validators and 304s, HEAD, the gzip copies beside the files for clients that take gzip, and
Flask for everything the copy does not hold."""

from __future__ import annotations

import gzip
import http.client
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.db import session_scope
from core.headers import security_headers
from core.servers import Listener
from status.publish import write_atomically, write_document
from status.site import Site
from status.static_site import accepts_gzip, published_file

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
REGION = "europe-west1.gcp"
PAGE, SUMMARY = f"/regions/{REGION}/", "/api/v2/summary.json"
PAGE_FILE, SUMMARY_FILE = f"regions/{REGION}/index.html", "api/v2/summary.json"
GZIP = {"Accept-Encoding": "gzip, deflate, br, zstd"}  # what Chromium sends


@pytest.fixture
def published(app: Flask, tmp_path: Path) -> Path:
    """The site published into a directory the app serves from, as the publish job does."""
    runtime = app.extensions["bellwether"]
    out = tmp_path / "public"
    with session_scope(runtime.session_factory) as session:
        Site(runtime.settings).publish(session, NOW, out)
    runtime.parts["public_dir"] = out
    return out


@pytest.fixture
def listener(app: Flask) -> Iterator[Listener]:
    """The app on the production listener, on a loopback port."""
    web = Listener("web-test", app, threads=4)
    web.start()
    yield web
    web.stop()


def _rendered(app: Flask, path: str) -> dict[str, str]:
    """Flask's own answer's headers for `path`, with no static copy to serve."""
    runtime = app.extensions["bellwether"]
    directory = runtime.parts.pop("public_dir", None)
    try:
        with app.test_client().get(path) as answer:
            assert answer.status_code == 200
            return dict(answer.headers)
    finally:
        runtime.parts["public_dir"] = directory


@pytest.mark.parametrize(("url", "relative"), [
    ("/", "index.html"),
    (PAGE, f"regions/{REGION}/index.html"),
    ("/incidents/7", "incidents/7/index.html"),
    ("/feed.atom", "feed.atom"),
    (f"/regions/{REGION}/feed.atom", f"regions/{REGION}/feed.atom"),
    (f"/regions/{REGION}/latency.json", f"regions/{REGION}/latency.json"),
    (SUMMARY, "api/v2/summary.json"),
    ("/api/v2/incidents/unresolved.json", "api/v2/incidents/unresolved.json"),
    (f"/api/v2/regions/{REGION}/status.json", f"api/v2/regions/{REGION}/status.json"),
    ("/static/status.css", "static/status.css"),
    ("/static/plotly.min.js", "static/plotly.min.js"),
])
def test_it_maps_public_urls_to_the_files_the_publisher_writes(url: str, relative: str) -> None:
    found = published_file(url)
    assert found is not None
    assert found[0] == relative


@pytest.mark.parametrize("url", [
    "/regions/../", "/regions/./", "/regions/a/b/", "/regions/x", "/incidents/007",
    "/api/v2/nothing.json", "/api/v2/../../etc/passwd.json", "/history", "/static/../app.py",
    "/static/sub/status.css", "/static/.status.css", "/static/status.css.gz", "/static/a.png",
    "/subscribe", "/api/v1/regions", "/admin",
])
def test_it_leaves_every_other_url_to_flask(url: str) -> None:
    assert published_file(url) is None


def test_it_serves_the_published_bytes_with_flasks_headers(
        app: Flask, client: FlaskClient, published: Path) -> None:
    for url, relative in ((PAGE, f"regions/{REGION}/index.html"),
                          (SUMMARY, "api/v2/summary.json"), ("/feed.atom", "feed.atom")):
        flask_headers = _rendered(app, url)
        with client.get(url) as answer:
            assert answer.status_code == 200
            assert answer.get_data() == (published / relative).read_bytes()
            assert answer.headers["Last-Modified"]  # only the file path sends it
            assert answer.headers["ETag"].startswith('"')
            for name in ("Content-Type", "Cache-Control", *security_headers()):
                assert answer.headers[name] == flask_headers[name], name
            assert answer.headers.get("Access-Control-Allow-Origin") == flask_headers.get(
                "Access-Control-Allow-Origin")
    with client.get(SUMMARY) as json_answer:
        assert json_answer.headers["Access-Control-Allow-Origin"] == "*"


def test_it_answers_304_to_a_current_validator_and_200_to_a_stale_one(
        client: FlaskClient, published: Path) -> None:
    with client.get(PAGE) as first:
        etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    with client.get(PAGE, headers={"If-None-Match": etag}) as cached:
        assert cached.status_code == 304
        assert cached.get_data() == b""
        assert cached.headers["ETag"] == etag
        assert cached.headers["Content-Security-Policy"]
    with client.get(PAGE, headers={"If-Modified-Since": modified}) as by_date:
        assert by_date.status_code == 304
    with client.get(PAGE, headers={"If-None-Match": '"something-else"'}) as stale:
        assert stale.status_code == 200
        assert len(stale.get_data()) > 1000


def test_a_republished_file_is_served_at_once_with_a_new_etag(
        client: FlaskClient, published: Path) -> None:
    with client.get(SUMMARY) as before:
        etag = before.headers["ETag"]
    write_atomically(published / "api/v2/summary.json", b'{"page":{"id":"new"}}')
    with client.get(SUMMARY, headers={"If-None-Match": etag}) as after:
        assert after.status_code == 200
        assert after.get_data() == b'{"page":{"id":"new"}}'
        assert after.headers["ETag"] != etag


def test_flask_answers_what_the_copy_does_not_hold(
        app: Flask, client: FlaskClient, published: Path) -> None:
    (published / f"regions/{REGION}/index.html").unlink()
    with client.get(PAGE) as rendered:  # not published (yet): rendered by the view
        assert rendered.status_code == 200
        assert "Last-Modified" not in rendered.headers
        assert rendered.headers["Content-Security-Policy"]
    with client.get(f"{SUMMARY}?region={REGION}") as narrowed:  # a query: the live view
        assert narrowed.get_json()["components"]
        assert all(REGION in c["name"] for c in narrowed.get_json()["components"])
        assert "Content-Disposition" in narrowed.headers  # Flask's send_file, not the layer
    with client.post(SUMMARY) as posted:
        assert posted.status_code == 405
    assert client.get("/regions/mars-1/").status_code == 404
    assert client.get("/subscribe").status_code == 200
    app.extensions["bellwether"].parts.pop("public_dir")
    with client.get("/feed.atom") as live:  # no copy to serve at all
        assert "Last-Modified" not in live.headers


def test_a_head_request_has_the_headers_and_no_body(client: FlaskClient,
                                                    published: Path) -> None:
    with client.head(SUMMARY) as answer:
        assert answer.status_code == 200
        assert answer.get_data() == b""
        size = (published / "api/v2/summary.json").stat().st_size
        assert answer.headers["Content-Length"] == str(size)


def test_one_kept_alive_connection_carries_get_head_and_304_over_http(
        listener: Listener, published: Path) -> None:
    connection = http.client.HTTPConnection(listener.host, listener.port, timeout=10)
    try:
        connection.request("GET", PAGE)
        first = connection.getresponse()
        body = first.read()
        assert (first.status, body) == (200, (published / f"regions/{REGION}/index.html")
                                        .read_bytes())
        assert first.getheader("Content-Type") == "text/html; charset=utf-8"
        assert first.getheader("X-Frame-Options") == "DENY"
        connection.request("HEAD", SUMMARY)
        head = connection.getresponse()
        assert (head.status, head.read()) == (200, b"")
        assert head.getheader("Content-Length") == str(
            (published / "api/v2/summary.json").stat().st_size)
        connection.request("GET", PAGE, headers={"If-None-Match": str(first.getheader("ETag"))})
        cached = connection.getresponse()
        assert (cached.status, cached.read()) == (304, b"")
        connection.request("GET", "/api/v2/nothing.json")  # Flask, on the same connection
        missing = connection.getresponse()
        assert missing.status == 404
        assert missing.read()
        assert not missing.will_close
    finally:
        connection.close()


# --- the gzip copies -----------------------------------------------------------------------

@pytest.mark.parametrize(("accept_encoding", "expected"), [
    ("gzip", True), ("gzip, deflate, br, zstd", True), ("GZIP;q=0.5", True), ("x-gzip", True),
    ("br;q=1.0, gzip;q=0.8, *;q=0.1", True), ("*", True), ("identity, *;q=0.5", True),
    ("gzip;q=0", False), ("gzip; q=0.000", False), ("gzip;q=0, *", False), ("*;q=0", False),
    ("br, deflate", False), ("identity", False), ("", False), ("gzip;q=nonsense", False),
    ("gzipped", False),
])
def test_it_reads_accept_encoding_with_its_qualities(accept_encoding: str,
                                                     expected: bool) -> None:
    assert accepts_gzip(accept_encoding) is expected


def test_the_publisher_writes_a_gzip_copy_beside_each_document(published: Path) -> None:
    documents = [p for p in published.rglob("*") if p.suffix in (".html", ".json", ".atom")]
    assert len(documents) > 10
    for document in documents:
        packed = document.with_name(document.name + ".gz")
        if packed.exists():
            assert gzip.decompress(packed.read_bytes()) == document.read_bytes()
            assert packed.stat().st_size < document.stat().st_size
        else:  # only where compressing would not make it smaller
            assert len(gzip.compress(document.read_bytes(), 9, mtime=0)) >= \
                document.stat().st_size
    page = published / PAGE_FILE
    assert (published / f"{PAGE_FILE}.gz").stat().st_size * 5 < page.stat().st_size
    assert (published / f"regions/{REGION}/latency.json").is_file()  # the page's chart data
    plotly = published / "static/plotly.min.js"
    assert (published / "static/plotly.min.js.gz").stat().st_size * 3 < plotly.stat().st_size


def test_stylesheets_and_scripts_come_from_the_copy_as_flask_sends_them(
        app: Flask, client: FlaskClient, published: Path) -> None:
    """A visitor's page load in a rush: plotly.js gzipped (4.8 MB -> 1.5 MB), from memory,
    with the content type and cache life Flask gives the same file."""
    for url in ("/static/status.css", "/static/status-days.js", "/static/plotly.min.js"):
        flask_headers = _rendered(app, url)
        relative = url.lstrip("/")
        with client.get(url, headers=GZIP) as answer:
            assert answer.status_code == 200
            assert gzip.decompress(answer.get_data()) == (published / relative).read_bytes()
            assert answer.headers["Content-Encoding"] == "gzip"
            for name in ("Content-Type", "Cache-Control", *security_headers()):
                assert answer.headers[name] == flask_headers[name], (url, name)
            etag = answer.headers["ETag"]
        with client.get(url, headers={**GZIP, "If-None-Match": etag}) as again:
            assert again.status_code == 304
        with client.get(url) as identity:
            assert identity.get_data() == (published / relative).read_bytes()


def test_a_gzip_copy_follows_its_document_and_goes_when_it_stops_paying(
        tmp_path: Path) -> None:
    document, packed = tmp_path / "a.json", tmp_path / "a.json.gz"
    large = b'{"components":[' + b'{"status":"operational"},' * 200 + b"{}]}"
    assert write_document(document, large)
    assert gzip.decompress(packed.read_bytes()) == large
    stamps = document.stat().st_mtime_ns, packed.stat().st_ino
    assert not write_document(document, large)  # unchanged: neither file is touched
    assert (document.stat().st_mtime_ns, packed.stat().st_ino) == stamps
    packed.unlink()
    assert write_document(document, large)  # a copy published before .gz files existed
    assert gzip.decompress(packed.read_bytes()) == large
    assert write_document(document, b"{}")  # compressing two bytes only adds to them
    assert document.read_bytes() == b"{}"
    assert not packed.exists()
    assert write_document(tmp_path / "a.css", large)  # stylesheets and scripts too
    assert gzip.decompress((tmp_path / "a.css.gz").read_bytes()) == large
    assert write_document(tmp_path / "a.png", large)
    assert not (tmp_path / "a.png.gz").exists()  # what browsers never take gzipped


def test_a_client_taking_gzip_gets_the_gzip_copy_with_its_own_etag(
        client: FlaskClient, published: Path) -> None:
    for url, relative in ((PAGE, PAGE_FILE), (SUMMARY, SUMMARY_FILE), ("/feed.atom", "feed.atom")):
        with client.get(url) as plain, client.get(url, headers=GZIP) as packed:
            assert plain.status_code == packed.status_code == 200
            assert "Content-Encoding" not in plain.headers
            assert packed.headers["Content-Encoding"] == "gzip"
            assert packed.get_data() == (published / f"{relative}.gz").read_bytes()
            assert gzip.decompress(packed.get_data()) == plain.get_data()
            assert packed.headers["Content-Length"] == str(len(packed.get_data()))
            assert packed.headers["Content-Type"] == plain.headers["Content-Type"]
            assert packed.headers["ETag"] != plain.headers["ETag"]
            assert packed.headers["Last-Modified"] == plain.headers["Last-Modified"]
            assert plain.headers["Vary"] == packed.headers["Vary"] == "Accept-Encoding"
            assert packed.headers["Content-Security-Policy"]
    with client.get(SUMMARY, headers={"Accept-Encoding": "gzip;q=0, deflate"}) as refused:
        assert "Content-Encoding" not in refused.headers
        assert refused.get_json()["components"]


def test_each_variant_is_revalidated_by_its_own_etag(client: FlaskClient,
                                                     published: Path) -> None:
    with client.get(PAGE) as plain, client.get(PAGE, headers=GZIP) as packed:
        plain_etag, packed_etag = plain.headers["ETag"], packed.headers["ETag"]
    with client.get(PAGE, headers={**GZIP, "If-None-Match": packed_etag}) as cached:
        assert (cached.status_code, cached.get_data()) == (304, b"")
        assert cached.headers["ETag"] == packed_etag
        assert cached.headers["Vary"] == "Accept-Encoding"
    with client.get(PAGE, headers={"If-None-Match": packed_etag}) as other:  # now identity
        assert other.status_code == 200
        assert "Content-Encoding" not in other.headers
        assert other.headers["ETag"] == plain_etag
    with client.get(PAGE, headers={**GZIP, "If-None-Match": plain_etag}) as switched:
        assert switched.status_code == 200
        assert switched.headers["Content-Encoding"] == "gzip"
    with client.head(SUMMARY, headers=GZIP) as head:
        assert (head.status_code, head.get_data()) == (200, b"")
        assert head.headers["Content-Encoding"] == "gzip"
        assert head.headers["Content-Length"] == str(
            (published / f"{SUMMARY_FILE}.gz").stat().st_size)


def test_a_gzip_copy_that_no_longer_matches_its_file_is_not_sent(
        client: FlaskClient, published: Path) -> None:
    fresh = b'{"page":{"id":"new"},"components":[' + b'{"status":"operational"},' * 50 + b"{}]}"
    write_atomically(published / SUMMARY_FILE, fresh)  # the .gz beside it is the old one
    with client.get(SUMMARY, headers=GZIP) as between:
        assert "Content-Encoding" not in between.headers
        assert between.get_data() == fresh
    write_document(published / SUMMARY_FILE, fresh)  # the publisher's pair: served at once
    with client.get(SUMMARY, headers=GZIP) as after:
        assert after.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(after.get_data()) == fresh
    (published / f"{SUMMARY_FILE}.gz").write_bytes(b"\x1f\x8b broken")
    with client.get(SUMMARY, headers=GZIP) as broken:
        assert "Content-Encoding" not in broken.headers
        assert broken.get_data() == fresh


def test_gzip_over_http_on_a_kept_alive_connection(listener: Listener,
                                                    published: Path) -> None:
    page = (published / PAGE_FILE).read_bytes()
    connection = http.client.HTTPConnection(listener.host, listener.port, timeout=10)
    try:
        connection.request("GET", PAGE, headers=GZIP)
        packed = connection.getresponse()
        body = packed.read()
        assert packed.status == 200
        assert packed.getheader("Content-Encoding") == "gzip"
        assert packed.getheader("Vary") == "Accept-Encoding"
        assert gzip.decompress(body) == page
        assert len(body) < len(page) // 5
        connection.request("GET", PAGE, headers={**GZIP,
                                                 "If-None-Match": str(packed.getheader("ETag"))})
        cached = connection.getresponse()
        assert (cached.status, cached.read()) == (304, b"")
        connection.request("HEAD", PAGE, headers=GZIP)
        head = connection.getresponse()
        assert (head.status, head.read()) == (200, b"")
        assert head.getheader("Content-Length") == str(len(body))
        connection.request("GET", PAGE, headers={"Accept-Encoding": "gzip;q=0"})
        plain = connection.getresponse()
        assert (plain.status, plain.read()) == (200, page)
        assert plain.getheader("Content-Encoding") is None
        assert not plain.will_close
    finally:
        connection.close()
