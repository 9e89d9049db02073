"""A loopback forwarder that adds one Cookie header to every request: how a tool that cannot
log in (axe's CLI drives Chromium through chromedriver, with no way to set a header or a
cookie) sees the pages behind a web login as that user.

GET and HEAD only, whole bodies, headers passed through but the hop-by-hop ones.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate"}


def _handler(upstream: str, cookie: str) -> type[BaseHTTPRequestHandler]:
    target = urlsplit(upstream)

    class Forward(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in HOP_BY_HOP | {"cookie", "host"}}
            headers["Cookie"] = cookie
            connection = http.client.HTTPConnection(target.hostname or "127.0.0.1",
                                                    target.port, timeout=30)
            try:
                connection.request(self.command, self.path, headers=headers)
                answer = connection.getresponse()
                body = answer.read()
            finally:
                connection.close()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in HOP_BY_HOP | {"content-length"}:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_HEAD = do_GET  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the tools' own reports say what was fetched."""

    return Forward


@contextmanager
def cookie_proxy(upstream: str, cookie: str) -> Iterator[str]:
    """Serve on a free loopback port while inside; yields the proxy's base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(upstream, cookie))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="cookie-proxy", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
