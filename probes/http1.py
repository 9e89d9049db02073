"""Plain-http probe requests without a connection pool: connect, send one request, read the
answer, close.

Every check opens a new connection for every request (runner.py says why), so httpcore's
connection pool, its anyio locks and h11's general-purpose state machine are work a check
pays for and never uses: a cProfile of 3,000 checks put about 40 % of a check's CPU in
them (docs/benchmarks.md, "Probe runner throughput"). `PlainHttpTransport` speaks only the
part of HTTP/1.1 such a client needs, on an asyncio Protocol: the request line and headers
httpx built, then the response's status line and headers and a body framed by
Content-Length, chunked encoding or the end of the connection. https (and anything else)
goes to the inner transport, httpcore with TLS, unchanged.

What stays as httpx's own transport does it, so the runner cannot tell the difference:
- errors: httpx.ConnectError / ConnectTimeout, WriteError / WriteTimeout, ReadError /
  ReadTimeout, RemoteProtocolError for a malformed or cut-short answer, LocalProtocolError
  for a header that would split the request, PoolTimeout;
- timeouts: httpx's per-operation ones (connect, write, read per wait for data, pool);
- the trace extension's events, by name and in order (`connection.connect_tcp`,
  `http11.send_request_headers`, ..., each `.started` then `.complete` or `.failed`), so
  the connect and first-byte timings are taken at the same points;
- limits: at most `max_connections` requests at once; a response head over 100 KiB is
  refused (the limit httpcore gives h11), and so is a body over `MAX_BODY_BYTES`.
The body is read whole before the response is returned (probes read every body anyway),
still raw: httpx decodes gzip and the like as usual.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

MAX_HEAD_BYTES = 100 * 1024  # httpcore's h11 max_incomplete_event_size
MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_CHUNK_LINE_BYTES = 1024
HAPPY_EYEBALLS_DELAY_S = 0.25  # RFC 8305's recommended connection attempt delay

Trace = Callable[[str, Mapping[str, Any]], Awaitable[None]]

_BLANK_LINE = re.compile(rb"\n\r?\n")  # end of a head; bare LF tolerated, as h11 does
_STATUS_LINE = re.compile(rb"HTTP/(1\.[01]) ([0-9]{3})(?: ([\t\x20-\x7e\x80-\xff]*))?")
_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[\t ]*(?:;[^\r\n]*)?")
_CONTENT_LENGTH = re.compile(rb"[0-9]{1,18}")


class _Connection(asyncio.Protocol):
    """One connection's incoming bytes; wakes the request waiting for more of them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.buffer = bytearray()
        self.eof = False
        self.error: Exception | None = None
        self.transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[bool] | None = None
        self._writable: asyncio.Future[bool] | None = None
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        _settle(self._waiter, True)

    def eof_received(self) -> bool:
        self.eof = True
        _settle(self._waiter, True)
        return False  # nothing more to send either: let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        _settle(self._waiter, True)
        _settle(self._writable, True)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        _settle(self._writable, True)

    async def more(self, timeout: float | None, at_eof: str) -> None:
        """Wait for more bytes. Called only when the buffer holds too few, so a reset is a
        ReadError, and a stream that has ended is `at_eof`, a RemoteProtocolError."""
        if self.error is not None:
            raise httpx.ReadError(str(self.error) or type(self.error).__name__)
        if self.eof:
            raise httpx.RemoteProtocolError(at_eof)
        self._waiter = waiter = self.loop.create_future()
        timer = (self.loop.call_later(timeout, _settle, waiter, False)
                 if timeout is not None else None)
        try:
            if not await waiter:
                raise httpx.ReadTimeout(f"no data within {timeout} s")
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    async def send(self, data: bytes, timeout: float | None) -> None:
        """Write `data`, waiting (up to `timeout`) while the socket's buffer is full."""
        assert self.transport is not None
        if self.error is not None:
            raise httpx.WriteError(str(self.error) or type(self.error).__name__)
        if self.eof:
            return  # the server is done: what it answered, if anything, is in the buffer
        self.transport.write(data)
        if not self._paused:
            return
        self._writable = writable = self.loop.create_future()
        timer = (self.loop.call_later(timeout, _settle, writable, False)
                 if timeout is not None else None)
        try:
            if not await writable:
                raise httpx.WriteTimeout(f"could not send within {timeout} s")
        finally:
            self._writable = None
            if timer is not None:
                timer.cancel()


def _settle(future: asyncio.Future[bool] | None, value: bool) -> None:
    if future is not None and not future.done():
        future.set_result(value)


class PlainHttpTransport(httpx.AsyncBaseTransport):
    """http:// requests on a new connection each, closed after the response; the rest to
    `inner` (httpcore, for TLS). For probes only: no keep-alive, no proxies, no upgrades."""

    def __init__(self, inner: httpx.AsyncBaseTransport, max_connections: int | None) -> None:
        self.inner = inner
        self._slots = asyncio.Semaphore(max_connections) if max_connections else None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "http":
            return await self.inner.handle_async_request(request)
        timeouts = request.extensions.get("timeout", {})
        if self._slots is None:
            return await _exchange(request, timeouts)
        if self._slots.locked():
            try:
                async with asyncio.timeout(timeouts.get("pool")):
                    await self._slots.acquire()
            except TimeoutError:
                raise httpx.PoolTimeout("no free connection slot in time") from None
        else:
            await self._slots.acquire()
        try:
            return await _exchange(request, timeouts)
        finally:
            self._slots.release()

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _exchange(request: httpx.Request, timeouts: Mapping[str, float | None],
                    ) -> httpx.Response:
    """One request and its response on a connection of its own."""
    trace: Trace | None = request.extensions.get("trace")
    loop = asyncio.get_running_loop()
    conn = _Connection(loop)
    host = request.url.raw_host.decode("ascii")
    port = request.url.port or 80
    head = request_head(request)
    await _traced(trace, "connection.connect_tcp", {"host": host, "port": port,
                                                    "timeout": timeouts.get("connect")},
                  _connect(loop, conn, host, port, timeouts.get("connect")))
    assert conn.transport is not None
    try:
        info = {"request": request}
        await _traced(trace, "http11.send_request_headers", info,
                      conn.send(head, timeouts.get("write")))
        await _traced(trace, "http11.send_request_body", info,
                      _send_body(conn, request, timeouts.get("write")))
        version, status, reason, headers = await _traced(
            trace, "http11.receive_response_headers", info,
            _receive_head(conn, timeouts.get("read")))
        body = await _traced(trace, "http11.receive_response_body", info,
                             _receive_body(conn, request.method, status, headers,
                                           timeouts.get("read")))
    except BaseException:  # timed out, cancelled, a bad answer: drop socket and buffer
        conn.transport.abort()
        raise
    conn.transport.close()
    if trace is not None:
        await trace("http11.response_closed.started", {})
        await trace("http11.response_closed.complete", {"return_value": None})
    return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body),
                          extensions={"http_version": version, "reason_phrase": reason})


async def _traced(trace: Trace | None, name: str, info: Mapping[str, Any],
                  step: Awaitable[Any]) -> Any:
    """Run `step` between the trace events httpcore sends for it."""
    if trace is None:
        return await step
    await trace(name + ".started", info)
    try:
        result = await step
    except BaseException as exc:
        await trace(name + ".failed", {"exception": exc})
        raise
    await trace(name + ".complete", {"return_value": result})
    return result


async def _connect(loop: asyncio.AbstractEventLoop, conn: _Connection, host: str, port: int,
                   timeout: float | None) -> None:
    # An address literal has one address: no happy-eyeballs race (tasks per connect) needed.
    delay = None if _is_address(host) else HAPPY_EYEBALLS_DELAY_S
    try:
        async with asyncio.timeout(timeout):
            await loop.create_connection(lambda: conn, host, port, happy_eyeballs_delay=delay)
    except TimeoutError:
        raise httpx.ConnectTimeout(f"no connection within {timeout} s") from None
    except OSError as exc:  # refused, unreachable, name not resolved
        raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc


@functools.lru_cache(maxsize=1024)  # a location probes the same few hosts all the time
def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def request_head(request: httpx.Request) -> bytes:
    """The request line and headers as httpx built them, refused if any part would end a
    line early (header injection) or a name is not a token."""
    raw = request.headers.raw
    for name, _value in raw:
        if not _TOKEN.fullmatch(name):
            raise httpx.LocalProtocolError(f"illegal header name {name!r}")
    head = b"".join([request.method.encode("ascii"), b" ", request.url.raw_path,
                     b" HTTP/1.1\r\n",
                     *(name + b": " + value + b"\r\n" for name, value in raw), b"\r\n"])
    lines = len(raw) + 2
    if head.count(b"\n") != lines or head.count(b"\r") != lines or b"\0" in head:
        raise httpx.LocalProtocolError("illegal character (CR, LF or NUL) in the request")
    return head


async def _send_body(conn: _Connection, request: httpx.Request,
                     timeout: float | None) -> None:
    assert isinstance(request.stream, httpx.AsyncByteStream)
    chunked = request.headers.get("transfer-encoding", "").lower() == "chunked"
    async for chunk in request.stream:
        if chunk:
            await conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk,
                            timeout)
    if chunked:
        await conn.send(b"0\r\n\r\n", timeout)


async def _receive_head(conn: _Connection, timeout: float | None,
                        ) -> tuple[bytes, int, bytes, list[tuple[bytes, bytes]]]:
    """The final response head, informational (1xx) ones skipped as httpcore does."""
    while True:
        head = await _read_head(conn, timeout)
        version, status, reason, headers = parse_head(head)
        if not 100 <= status < 200 or status == 101:
            return version, status, reason, headers


async def _read_head(conn: _Connection, timeout: float | None) -> bytes:
    start = 0
    while True:
        end = _BLANK_LINE.search(conn.buffer, start)
        if end is not None and end.start() <= MAX_HEAD_BYTES:
            head = bytes(conn.buffer[:end.start()])
            del conn.buffer[:end.end()]
            return head
        if end is not None or len(conn.buffer) > MAX_HEAD_BYTES:
            # Also when the whole head came in one read: how the bytes were split into reads
            # must not decide (httpcore reads 64 KiB at a time and so refuses such a head).
            raise httpx.RemoteProtocolError(
                f"response head larger than {MAX_HEAD_BYTES // 1024} KiB")
        start = max(0, len(conn.buffer) - 3)
        await conn.more(timeout, "Server disconnected without sending a response."
                        if not conn.buffer else "Server disconnected in the response head")


def parse_head(head: bytes) -> tuple[bytes, int, bytes, list[tuple[bytes, bytes]]]:
    """HTTP version, status, reason phrase and headers of a response head (no blank line).

    >>> parse_head(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2")
    (b'HTTP/1.1', 200, b'OK', [(b'Content-Length', b'2')])
    """
    lines = head.split(b"\n")
    status_line = _STATUS_LINE.fullmatch(lines[0].rstrip(b"\r"))
    if status_line is None:
        raise httpx.RemoteProtocolError(f"malformed status line {lines[0][:80]!r}")
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        line = line.rstrip(b"\r")
        if line[:1] in (b" ", b"\t") and headers:  # obsolete line folding: one value
            name, value = headers[-1]
            headers[-1] = (name, value + b" " + line.strip(b" \t"))
            continue
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            raise httpx.RemoteProtocolError(f"malformed header line {line[:80]!r}")
        headers.append((name, value.strip(b" \t")))
    return (b"HTTP/" + status_line[1], int(status_line[2]), status_line[3] or b"", headers)


async def _receive_body(conn: _Connection, method: str, status: int,
                        headers: list[tuple[bytes, bytes]], timeout: float | None) -> bytes:
    """The body, framed as RFC 9112 §6.3 says for a response on a connection we close."""
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return b""
    framing = body_framing(headers)
    if isinstance(framing, str):
        return await _read_chunked(conn, timeout)
    if framing is None:
        while not conn.eof:
            if len(conn.buffer) > MAX_BODY_BYTES:
                raise httpx.RemoteProtocolError(_too_large())
            await conn.more(timeout, "")
        if conn.error is not None:  # reset, not closed: the body may be cut short
            raise httpx.ReadError(str(conn.error) or type(conn.error).__name__)
        return bytes(conn.buffer)
    if framing > MAX_BODY_BYTES:
        raise httpx.RemoteProtocolError(_too_large())
    while len(conn.buffer) < framing:
        await conn.more(timeout, "peer closed connection without sending complete message "
                        f"body: received {len(conn.buffer)} bytes, expected {framing}")
    return bytes(conn.buffer[:framing])


def body_framing(headers: list[tuple[bytes, bytes]]) -> int | str | None:
    """"chunked", a Content-Length, or None (the body runs to the end of the connection).

    Transfer-Encoding wins over Content-Length; anything but chunked is refused, and so
    are Content-Lengths that are not one number (h11's rules).
    """
    lengths: set[bytes] = set()
    codings: list[bytes] = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"transfer-encoding":
            codings.append(value.strip().lower())
        elif lowered == b"content-length":
            lengths.update(part.strip() for part in value.split(b","))
    if codings:
        if codings != [b"chunked"]:
            raise httpx.RemoteProtocolError("Only Transfer-Encoding: chunked is supported")
        return "chunked"
    if not lengths:
        return None
    if len(lengths) > 1 or not _CONTENT_LENGTH.fullmatch(length := lengths.pop()):
        raise httpx.RemoteProtocolError("bad Content-Length")
    return int(length)


async def _read_chunked(conn: _Connection, timeout: float | None) -> bytes:
    body = bytearray()
    buffer = conn.buffer
    while True:
        line_end = buffer.find(b"\n")
        if line_end < 0:
            if len(buffer) > MAX_CHUNK_LINE_BYTES:
                raise httpx.RemoteProtocolError("chunk size line too long")
            await _more(conn, timeout)
            continue
        size_line = _CHUNK_SIZE.fullmatch(bytes(buffer[:line_end]).rstrip(b"\r"))
        if size_line is None:
            raise httpx.RemoteProtocolError(f"bad chunk size line {bytes(buffer[:40])!r}")
        size = int(size_line[1], 16)
        if size == 0:
            await _skip_trailers(conn, line_end, timeout)
            return bytes(body)
        if len(body) + size > MAX_BODY_BYTES:
            raise httpx.RemoteProtocolError(_too_large())
        data_end = line_end + 1 + size
        after = await _chunk_end(conn, data_end, timeout)
        body += buffer[line_end + 1:data_end]
        del buffer[:after]


async def _chunk_end(conn: _Connection, data_end: int, timeout: float | None) -> int:
    """Where the chunk whose data ends at `data_end` ends, past its CRLF (or bare LF)."""
    buffer = conn.buffer
    while len(buffer) < data_end + 2:
        if len(buffer) == data_end + 1 and buffer[data_end] == 0x0A:  # bare LF, the end
            return data_end + 1
        await _more(conn, timeout)
    if buffer[data_end:data_end + 2] == b"\r\n":
        return data_end + 2
    if buffer[data_end] == 0x0A:
        return data_end + 1
    raise httpx.RemoteProtocolError("chunk data not followed by CRLF")


async def _skip_trailers(conn: _Connection, line_end: int, timeout: float | None) -> None:
    """Past the last chunk's line: any trailer fields up to the blank line, dropped."""
    while (end := _BLANK_LINE.search(conn.buffer, line_end)) is None:
        if len(conn.buffer) > MAX_HEAD_BYTES:
            raise httpx.RemoteProtocolError("chunked trailers too long")
        await _more(conn, timeout)
    del conn.buffer[:end.end()]


async def _more(conn: _Connection, timeout: float | None) -> None:
    await conn.more(timeout, "peer closed connection without sending complete message "
                    "body: incomplete chunked read")


def _too_large() -> str:
    return f"response body larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB"
