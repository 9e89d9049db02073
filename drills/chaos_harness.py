"""The world a chaos campaign runs in: a real `bellwether up` in a child process, a
PagerDuty Events API stand-in over TLS that can go away and come back on its port, a mail
server that keeps every message, and `bellwether agent` processes to kill.

Everything listens on 127.0.0.1. Every event the stand-ins receive is kept with its arrival
time: the campaign's invariants are checked over all of them (`drills.chaos_invariants`).
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import queue
import re
import signal
import socketserver
import ssl
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

from core.clock import Clock, SystemClock
from core.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
READY = re.compile(r"Press Ctrl\+C")


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (openssl), for the PagerDuty stand-in."""
    cert, key = directory / "pagerduty.pem", directory / "pagerduty.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


# --- PagerDuty ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Received:
    at: datetime
    event: Mapping[str, Any]


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    tls: ssl.SSLContext

    def finish_request(self, request: Any, client_address: Any) -> None:
        """The TLS handshake happens in the request's thread, never in the accept loop."""
        with self.tls.wrap_socket(request, server_side=True) as tls:
            super().finish_request(tls, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (a dispatcher stopping) is no news."""


class PagerDutyStandIn:
    """POST /v2/enqueue answered 202 as PagerDuty does; every accepted event is kept in
    `received` with its arrival time. `stop()` makes the port refuse connections and
    `start()` serves it again."""

    def __init__(self, cert: Path, key: Path, clock: Clock | None = None) -> None:
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.clock = clock or SystemClock()
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._tls.load_cert_chain(cert, key)
        self._server: _TlsServer | None = None

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path != "/v2/enqueue":
                    self._answer(404, {"status": "not found"})
                    return
                event = json.loads(body)
                with outer.lock:
                    outer.received.append(Received(outer.clock.now(), event))
                self._answer(202, {"status": "success", "message": "Event processed",
                                   "dedup_key": event.get("dedup_key", "")})

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        server = _TlsServer(("127.0.0.1", self.port), Handler)
        server.tls = self._tls
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def up(self) -> bool:
        return self._server is not None

    def events(self) -> list[Received]:
        with self.lock:
            return list(self.received)


# --- mail -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Mail:
    at: datetime
    recipient: str
    subject: str
    text: str


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for Python's smtplib: EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    server: _SmtpServer

    def _say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        self._say("220 127.0.0.1 chaos mail sink")
        recipients: list[str] = []
        while raw := self.rfile.readline():
            verb = raw.decode("utf-8", "replace").strip().split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self._say("250-127.0.0.1\r\n250-8BITMIME\r\n250 SMTPUTF8" if verb == "EHLO"
                          else "250 127.0.0.1")
            elif verb == "RCPT":
                found = re.search(r"<([^>]*)>", raw.decode("utf-8", "replace"))
                recipients.append(found.group(1) if found else "")
                self._say("250 OK")
            elif verb == "DATA":
                self._say("354 end with <CRLF>.<CRLF>")
                self._data(recipients)
                recipients = []
                self._say("250 Message accepted for delivery")
            elif verb == "QUIT":
                self._say("221 Bye")
                return
            else:  # MAIL, RSET, NOOP: nothing to remember
                recipients = [] if verb in ("MAIL", "RSET") else recipients
                self._say("250 OK")

    def _data(self, recipients: list[str]) -> None:
        lines = []
        while (line := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
            lines.append(line[1:] if line.startswith(b"..") else line)
        message = email.message_from_bytes(b"".join(lines), policy=email.policy.default)
        body = message.get_body(("plain",)) if message.is_multipart() else message
        text = body.get_content() if body is not None else ""
        at = self.server.clock.now()
        with self.server.lock:
            self.server.mails.extend(Mail(at, rcpt, str(message["Subject"]), str(text))
                                     for rcpt in recipients)


class _SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, clock: Clock) -> None:
        super().__init__(("127.0.0.1", port), _SmtpHandler)
        self.clock = clock
        self.mails: list[Mail] = []
        self.lock = threading.Lock()


class MailSink:
    """A mail server on a free loopback port that keeps every message it is sent."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.port = free_port()
        self.url = f"smtp://127.0.0.1:{self.port}"
        self._server = _SmtpServer(self.port, clock or SystemClock())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def mails(self) -> list[Mail]:
        with self._server.lock:
            return list(self._server.mails)


# --- processes --------------------------------------------------------------------------------

@dataclass
class Process:
    """A `bellwether` command in a child process; its output is kept line by line."""

    args: tuple[str, ...]
    env: dict[str, str]
    ready: re.Pattern[str] = READY
    lines: list[str] = field(default_factory=list)
    proc: subprocess.Popen[str] | None = None
    _queue: queue.Queue[str | None] = field(default_factory=queue.Queue)

    def start(self, timeout: float = 90.0) -> None:
        """Start and wait for its ready line."""
        self._queue = queue.Queue()
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), *self.args],
                                     cwd=ROOT, env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        assert self.proc.stdout is not None
        threading.Thread(target=self._pump, args=(self.proc.stdout,), daemon=True).start()
        while True:
            try:
                line = self._queue.get(timeout=timeout)
            except queue.Empty:
                raise RuntimeError(f"{' '.join(self.args[:2])} did not start in {timeout:.0f} "
                                   f"s: {self.lines[-20:]}") from None
            if line is None:
                raise RuntimeError(f"{' '.join(self.args[:2])} ended: {self.lines[-20:]}")
            if self.ready.search(line):
                return

    def _pump(self, stream: IO[str]) -> None:
        with stream:
            for line in stream:
                self.lines.append(line.rstrip("\n"))
                self._queue.put(line)
        self._queue.put(None)

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to say goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM and wait; the exit status (None if it never started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9


def base_env(data_dir: Path) -> dict[str, str]:
    """A clean environment: nothing of the caller's BELLWETHER_* settings leaks in."""
    return {"PATH": os.defpath, "BELLWETHER_DATA_DIR": str(data_dir)}
