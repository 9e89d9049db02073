"""The static copy answered before Flask: the same bytes and headers as Flask's answer,
validators and 304s, HEAD, and Flask for everything the copy does not hold."""

from __future__ import annotations

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
from status.publish import write_atomically
from status.site import Site
from status.static_site import published_file

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
REGION = "europe-west1.gcp"
PAGE, SUMMARY = f"/regions/{REGION}/", "/api/v2/summary.json"


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
    (SUMMARY, "api/v2/summary.json"),
    ("/api/v2/incidents/unresolved.json", "api/v2/incidents/unresolved.json"),
    (f"/api/v2/regions/{REGION}/status.json", f"api/v2/regions/{REGION}/status.json"),
])
def test_it_maps_public_urls_to_the_files_the_publisher_writes(url: str, relative: str) -> None:
    found = published_file(url)
    assert found is not None
    assert found[0] == relative


@pytest.mark.parametrize("url", [
    "/regions/../", "/regions/./", "/regions/a/b/", "/regions/x", "/incidents/007",
    "/api/v2/nothing.json", "/api/v2/../../etc/passwd.json", "/history", "/static/status.css",
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
