"""The probes' sockets: an httpcore network backend on plain asyncio streams.

httpx on asyncio reaches the network through anyio. For a check that opens a new
connection every time, that layer costs about a quarter of the check's CPU: a task group
to connect (happy eyeballs), a cancel scope for every read and write, and the bookkeeping
around them (bench/runner_throughput.py measured 0.98 → 0.74 ms per check on this
machine). A probe needs none of it: `run_check` bounds the whole check with its own
deadline, and each operation still honours the per-operation timeout httpx passes down.
httpcore still does the HTTP (h11), the pool and the trace events (connect, TLS, first
byte), so timings, errors and "a new connection per check" are unchanged.

The runner sends https here; plain http goes to probes/http1.py, which also skips
httpcore's pool and h11 (and is compared with this transport in tests/probes/test_http1.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

SocketOption = (tuple[int, int, int] | tuple[int, int, bytes | bytearray]
                | tuple[int, int, None, int])
HAPPY_EYEBALLS_DELAY_S = 0.25  # RFC 8305's recommended connection attempt delay


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection, as httpcore reads and writes it; errors become httpcore's."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError:
            raise httpcore.ReadTimeout(f"no data within {timeout} s") from None
        except OSError as exc:
            raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            async with asyncio.timeout(timeout):
                self._writer.write(buffer)
                await self._writer.drain()
        except TimeoutError:
            raise httpcore.WriteTimeout(f"could not send within {timeout} s") from None
        except OSError as exc:
            raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc

    async def aclose(self) -> None:
        if self._writer.get_extra_info("ssl_object") is not None:
            # No close_notify exchange (anyio's "not standard compatible" close, which httpx
            # uses too): asyncio would wait up to 30 s for a peer that never answers it.
            self._writer.transport.abort()
            return
        self._writer.close()
        with contextlib.suppress(OSError):  # the peer reset a connection we are done with
            await self._writer.wait_closed()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError:
            self._writer.transport.abort()
            raise httpcore.ConnectTimeout(f"no TLS handshake within {timeout} s") from None
        except OSError as exc:  # ssl.SSLError included: a bad certificate is a connect error
            self._writer.transport.abort()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # Only asked of idle pooled connections; probes keep none (no keep-alive).
            return self._reader.at_eof() or self._reader.exception() is not None
        names = {"ssl_object": "ssl_object", "client_addr": "sockname",
                 "server_addr": "peername", "socket": "socket"}
        return self._writer.get_extra_info(names[info]) if info in names else None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Opens connections with asyncio; what httpcore's pool asks for, nothing more."""

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[SocketOption] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY_S,
                    local_addr=(local_address, 0) if local_address else None)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"no connection within {timeout} s") from None
        except OSError as exc:  # refused, unreachable, name not resolved
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        _apply(writer, socket_options)
        return AsyncioStream(reader, writer)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[SocketOption] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_unix_connection(path)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"no connection within {timeout} s") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        _apply(writer, socket_options)
        return AsyncioStream(reader, writer)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _apply(writer: asyncio.StreamWriter, options: Iterable[SocketOption] | None) -> None:
    """Socket options, set once connected (asyncio opens the socket itself)."""
    sock: socket.socket | None = writer.get_extra_info("socket")
    for option in options or ():
        if sock is not None:
            sock.setsockopt(*option)


def asyncio_transport(limits: httpx.Limits, ssl_context: ssl.SSLContext | None = None,
                      ) -> httpx.AsyncHTTPTransport:
    """httpx's transport with its connection pool on `AsyncioBackend`.

    httpx has no argument for the network backend, so the pool it built is replaced by the
    same pool (one SSL context, same limits) on ours; the assertion fails loudly should a
    new httpx build its pool differently.
    """
    ssl_context = ssl_context or httpx.create_ssl_context()  # httpx's default, made once
    transport = httpx.AsyncHTTPTransport(verify=ssl_context, limits=limits)
    assert type(transport._pool) is httpcore.AsyncConnectionPool, "httpx changed its pool"
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context, max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry, network_backend=AsyncioBackend())
    return transport
