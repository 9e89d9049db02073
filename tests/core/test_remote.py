"""The command-line client tries again when the server stored nothing and said so."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.errors import BellwetherError
from core.remote import BUSY_ATTEMPTS, RemoteApi


class Busy(BaseHTTPRequestHandler):
    """Answers 503 busy (Retry-After: 0) `busy` times, then 201."""

    busy = 0
    seen = 0

    def do_POST(self) -> None:
        type(self).seen += 1
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        body: dict[str, object]
        if type(self).seen <= type(self).busy:
            body, status = {"error": "database_busy", "detail": "busy"}, 503
        else:
            body, status = {"id": 7}, 201
        data = json.dumps(body).encode()
        self.send_response(status)
        if status == 503:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Busy.seen = 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_busy_answer_is_tried_again(server: str) -> None:
    Busy.busy = 2
    waits: list[float] = []
    assert RemoteApi(server, "t", sleep=waits.append).call("POST", "/api/v1/faults",
                                                           json={}) == {"id": 7}
    assert (Busy.seen, waits) == (3, [0.0, 0.0])


def test_it_gives_up_after_a_few_busy_answers(server: str) -> None:
    Busy.busy = BUSY_ATTEMPTS
    with pytest.raises(BellwetherError, match="503"):
        RemoteApi(server, "t", sleep=lambda _: None).call("POST", "/api/v1/faults", json={})
    assert Busy.seen == BUSY_ATTEMPTS
