"""The probes' asyncio network backend under httpx: HTTP and HTTPS, errors and timeouts, as
httpx's own transport reports them."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from probes.network import asyncio_transport
from tests.support.tls import self_signed

LIMITS = httpx.Limits(max_connections=4, max_keepalive_connections=0)


class Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status":"ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def serve(server: ThreadingHTTPServer) -> Iterator[int]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def http_port() -> Iterator[int]:
    yield from serve(ThreadingHTTPServer(("127.0.0.1", 0), Hello))


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path)


@pytest.fixture
def https_port(cert: tuple[Path, Path]) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*cert)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield from serve(server)


def get(url: str, ssl_context: ssl.SSLContext | None = None, timeout: float = 5.0,
        ) -> tuple[httpx.Response, list[str]]:
    """One GET through the asyncio transport; the response and the trace events seen."""
    events: list[str] = []

    async def trace(name: str, _info: Mapping[str, Any]) -> None:
        events.append(name)

    async def once() -> httpx.Response:
        transport = asyncio_transport(LIMITS, ssl_context)
        async with httpx.AsyncClient(transport=transport, timeout=timeout) as client:
            return await client.get(url, extensions={"trace": trace})

    return asyncio.run(once()), events


def test_a_get_over_a_new_connection_is_answered_and_traced(http_port: int) -> None:
    response, events = get(f"http://127.0.0.1:{http_port}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "connection.connect_tcp.complete" in events
    assert "http11.receive_response_headers.complete" in events


def test_https_is_verified_against_the_ca_it_is_given(https_port: int,
                                                      cert: tuple[Path, Path]) -> None:
    trusted = ssl.create_default_context(cafile=str(cert[0]))
    response, events = get(f"https://127.0.0.1:{https_port}/healthz", trusted)
    assert response.status_code == 200
    assert "connection.start_tls.complete" in events
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        get(f"https://127.0.0.1:{https_port}/healthz")


def test_a_closed_port_is_a_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    with pytest.raises(httpx.ConnectError):
        get(f"http://127.0.0.1:{closed}/")


def test_a_server_that_never_answers_is_a_read_timeout() -> None:
    # The kernel accepts into the backlog; nobody ever reads or answers.
    with (socket.create_server(("127.0.0.1", 0)) as silent,
          pytest.raises(httpx.ReadTimeout)):
        get(f"http://127.0.0.1:{silent.getsockname()[1]}/", timeout=0.2)
