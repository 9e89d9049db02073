"""Security headers on every answer: a Content-Security-Policy without inline scripts, and
the usual others. Pages load scripts only from Bellwether itself (plotly.js included).

Flask's answers get them in `after_request`; the static copy of the public site, answered
before Flask (status.static_site), takes the same list from `security_headers()`.
"""

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
HSTS = "max-age=31536000"


def security_headers(https: bool = False) -> dict[str, str]:
    """Every answer's security headers; HSTS only when the public URL is https (a browser
    would otherwise remember to refuse plain http for a year)."""
    if not https:
        return dict(HEADERS)
    return {**HEADERS, "Strict-Transport-Security": HSTS}


def secure(response: Response, https: bool = False) -> Response:
    for name, value in security_headers(https).items():
        response.headers.setdefault(name, value)
    return response


def init_app(app: Flask, https: bool) -> None:
    app.after_request(lambda response: secure(response, https))
