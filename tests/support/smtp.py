"""A real SMTP server (aiosmtpd) on a free loopback port, collecting what it is sent.

aiosmtpd's Controller cannot take port 0 (it connects to its own port to see it is up), so
a free port is picked first; `stop()` then `start()` serves the same port again.
"""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from core.servers import free_port


@dataclass(frozen=True)
class Mail:
    """One message as the server received it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage


class _Collect:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          rcpt_options: Any) -> str:
        reply = self.server.refusals.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.server.lock:
            self.server.mails.append(Mail(envelope.mail_from, tuple(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


class SmtpServer:
    """Collects messages in `mails`; `refusals` maps an address to the RCPT reply that
    refuses it (e.g. "550 5.1.1 no such user", "450 4.2.1 try later")."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"smtp://127.0.0.1:{self.port}"
        self.mails: list[Mail] = []
        self.refusals: dict[str, str] = {}
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(_Collect(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        """Stop listening: clients now see a refused connection."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@contextmanager
def running_smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
