"""Loopback HTTP(S) servers that receive webhooks: a recording receiver that checks the
signature and answers as scripted, and a hanging one that never answers."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from alerts.senders.webhook import verify
from core.servers import free_port


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    tls: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        """The TLS handshake happens in the request's thread, never in the accept loop."""
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        # The TLS socket takes over the descriptor, so it is the one to close.
        with self.tls.wrap_socket(request, server_side=True) as tls:
            super().finish_request(tls, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that vanish (a killed dispatcher, a timeout) are expected here."""


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 that can stop and start again on its port;
    `handle(handler)` answers each request. With `cert` and `key` it speaks TLS."""

    def __init__(self, cert: Path | None = None, key: Path | None = None) -> None:
        self.port = free_port()
        self.tls: ssl.SSLContext | None = None
        if cert is not None and key is not None:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(cert, key)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                outer.handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        server = _Server(("127.0.0.1", self.port), Handler)
        server.tls = self.tls
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening: clients now see a refused connection."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    return handler.rfile.read(int(handler.headers.get("Content-Length", "0")))


def answer(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any] | None = None,
           headers: dict[str, str] | None = None) -> None:
    data = json.dumps(body or {}).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)


@dataclass(frozen=True)
class Received:
    """One webhook call as it arrived."""

    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver(LoopbackServer):
    """Records every call, checks its signature with `secret`, answers 204 unless scripted
    (`answer_next(status, times)`); a call with a bad signature gets 401."""

    def __init__(self, secret: str, cert: Path | None = None, key: Path | None = None) -> None:
        super().__init__(cert, key)
        self.secret = secret
        self.received: list[Received] = []
        self._script: deque[int] = deque()
        self._lock = threading.Lock()

    def answer_next(self, status: int, times: int = 1) -> None:
        with self._lock:
            self._script.extend([status] * times)

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = read_body(handler)
        headers = {name.lower(): value for name, value in handler.headers.items()}
        ok = verify(self.secret, headers.get("x-bellwether-timestamp", ""), body,
                    headers.get("x-bellwether-signature", ""))
        with self._lock:
            self.received.append(Received(handler.path, headers, body, ok))
            status = self._script.popleft() if self._script else (204 if ok else 401)
        if status == 204:
            handler.send_response(204)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        else:
            answer(handler, status, {"error": "scripted"})


class HangingReceiver:
    """Accepts connections and never answers until `release()`, which closes them.
    `connections` counts the accepted ones."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.connections = 0
        self._open: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._open.append(conn)
            self.connections += 1

    def release(self) -> None:
        """Close every held connection: the waiting client sees the server hang up."""
        for conn in self._open:
            conn.close()
        self._open.clear()

    def stop(self) -> None:
        self.release()
        with contextlib.suppress(OSError):  # wakes the thread blocked in accept()
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(timeout=5)

