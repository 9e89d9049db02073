"""Security headers on every answer, pages and API alike."""

from __future__ import annotations

from flask.testing import FlaskClient


def test_every_answer_carries_a_strict_policy_and_the_usual_headers(client: FlaskClient) -> None:
    for path in ("/", "/api/v1/regions", "/healthz", "/no-such-page"):
        response = client.get(path)
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";")[0]
        assert "frame-ancestors 'none'" in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in response.headers


def test_the_favicon_is_the_icon_the_pages_link(client: FlaskClient) -> None:
    """Browsers ask for /favicon.ico by themselves (a badge opened as a page): no 404."""
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.mimetype == "image/svg+xml"
    assert icon.data.startswith(b"<svg")
    assert b'<link rel="icon" href="/favicon.ico"' in client.get("/").data
