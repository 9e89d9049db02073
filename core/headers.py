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
#: The policy of the one page other sites may put in an iframe, the status embed
#: (status.embed): the same policy with any frame ancestor allowed.
FRAMEABLE_CSP = CSP.replace("frame-ancestors 'none'", "frame-ancestors *")


def security_headers(https: bool = False, frameable: bool = False) -> dict[str, str]:
    """Every answer's security headers; HSTS only when the public URL is https (a browser
    would otherwise remember to refuse plain http for a year). `frameable`: those of the
    embed, FRAMEABLE_CSP and no X-Frame-Options; nothing else differs."""
    headers = dict(HEADERS)
    if frameable:
        headers["Content-Security-Policy"] = FRAMEABLE_CSP
        del headers["X-Frame-Options"]
    if https:
        headers["Strict-Transport-Security"] = HSTS
    return headers


def secure(response: Response, https: bool = False) -> Response:
    """Add the security headers a response does not set itself; a view that set
    FRAMEABLE_CSP (the embed) gets no X-Frame-Options either."""
    frameable = response.headers.get("Content-Security-Policy") == FRAMEABLE_CSP
    for name, value in security_headers(https, frameable).items():
        response.headers.setdefault(name, value)
    return response


def init_app(app: Flask, https: bool) -> None:
    app.after_request(lambda response: secure(response, https))
