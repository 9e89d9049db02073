"""Security headers on every answer: a Content-Security-Policy without inline scripts, and
the usual others. Pages load scripts only from Bellwether itself (plotly.js included)."""

from __future__ import annotations

from flask import Flask, Response

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",  # plotly.js sets style attributes as it draws
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
])
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def secure(response: Response, https: bool = False) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if https:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def init_app(app: Flask, https: bool) -> None:
    app.after_request(lambda response: secure(response, https))
