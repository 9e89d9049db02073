"""Email through SMTP (`BELLWETHER_SMTP_URL`, smtp:// or smtps://, optional user:password).

The payload carries `subject`, `text`, optionally `html` and `headers` (List-Unsubscribe,
List-Unsubscribe-Post, ...); the recipient is the address.

Connections are kept open between messages of a dispatcher pass (a fan-out to 10,000
subscribers would otherwise connect, greet and log in 10,000 times) and closed after it; one
that sat idle for a second is checked with RSET first, and replaced when the server dropped
it, so a stale connection does not cost a delivery attempt.
"""

from __future__ import annotations

import hashlib
import smtplib
import threading
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, parseaddr
from urllib.parse import unquote, urlsplit

from alerts.senders import Delivery, DeliveryError
from core.clock import Clock

TIMEOUT_S = 10.0
DEFAULT_FROM = "Bellwether <bellwether@localhost>"
#: Messages per connection before it is closed and a new one opened: relays often limit it.
MESSAGES_PER_CONNECTION = 100
#: A connection idle for longer is checked with RSET before it carries a message.
CHECK_AFTER_IDLE_S = 1.0
#: Serialise as SMTP wants it: CRLF line ends (smtplib sends bytes as they are).
_WIRE = compat32.clone(linesep="\r\n")
_OWN_HEADERS = frozenset({"from", "to", "subject", "date", "message-id", "mime-version",
                          "content-type", "content-transfer-encoding"})


class _Connection:
    """An open SMTP session and how much it has carried."""

    def __init__(self, smtp: smtplib.SMTP, idle_since: float) -> None:
        self.smtp = smtp
        self.sent = 0
        self.idle_since = idle_since


class SmtpMailer:
    """Sends over pooled SMTP connections (at most one per sending thread stays idle); 4xx and
    connection trouble are retried, 5xx not."""

    def __init__(self, smtp_url: str, clock: Clock, sender: str = DEFAULT_FROM,
                 timeout_s: float = TIMEOUT_S) -> None:
        parts = urlsplit(smtp_url)
        self.host = parts.hostname or "127.0.0.1"
        self.use_ssl = parts.scheme == "smtps"
        self.port = parts.port or (465 if self.use_ssl else 25)
        self.login = (unquote(parts.username), unquote(parts.password or "")) \
            if parts.username else None
        self.clock = clock
        self.sender = sender
        self.envelope_from = parseaddr(sender)[1]
        self.timeout_s = timeout_s
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()
        #: How many connections were opened so far (one per pass and thread when all is well).
        self.connections_opened = 0

    def message(self, delivery: Delivery) -> MIMEMultipart | MIMEText:
        """The MIME message: text, with an HTML alternative when the payload has one.

        Built with the `email.mime` classes (policy compat32): the default policy's header
        registry parses every header again and cost three times as much per message.
        """
        payload = delivery.payload
        if not delivery.recipient.isascii():  # the SMTP envelope would need SMTPUTF8
            raise ValueError(f"not an ASCII address: {delivery.recipient!r}")
        text = MIMEText(str(payload["text"]), "plain", "utf-8")
        msg: MIMEMultipart | MIMEText = text
        if payload.get("html"):
            msg = MIMEMultipart("alternative")
            msg.attach(text)
            msg.attach(MIMEText(str(payload["html"]), "html", "utf-8"))
        # Stable per outbox row: a retried send after a crash is the same message.
        message_id = f"<{hashlib.sha256(delivery.key.encode()).hexdigest()[:32]}@bellwether>"
        headers = [("From", self.sender), ("To", delivery.recipient),
                   ("Subject", str(payload["subject"])),
                   ("Date", format_datetime(self.clock.now())), ("Message-ID", message_id)]
        for name, value in dict(payload.get("headers", {})).items():
            if name.lower() in _OWN_HEADERS:
                raise ValueError(f"the payload may not set the {name} header")
            headers.append((name, str(value)))
        for name, value in headers:
            if "\r" in value or "\n" in value:  # no header injection through a title
                raise ValueError(f"line break in the {name} header")
            msg[name] = value
        return msg

    def send(self, delivery: Delivery) -> None:
        try:
            msg = self.message(delivery)
        except (KeyError, TypeError, ValueError) as exc:  # no subject, a header not allowed
            raise DeliveryError(f"malformed email payload: {exc!r}", permanent=True) from exc
        try:
            connection = self._connection()
        except (smtplib.SMTPException, OSError) as exc:
            raise _unreachable(exc) from exc
        try:
            connection.smtp.sendmail(self.envelope_from, [delivery.recipient],
                                     msg.as_bytes(policy=_WIRE))
        except smtplib.SMTPRecipientsRefused as exc:
            self._put_back(connection)  # sendmail reset the session: it can carry the next
            code, text = next(iter(exc.recipients.values()))
            raise _refused(code, text, recipient_fault=True) from exc
        except smtplib.SMTPResponseException as exc:
            _close(connection)
            raise _refused(exc.smtp_code, exc.smtp_error, recipient_fault=False) from exc
        except (smtplib.SMTPException, OSError) as exc:
            _close(connection)
            raise _unreachable(exc) from exc
        connection.sent += 1
        self._put_back(connection)

    def close_idle(self) -> None:
        """Say goodbye on every idle connection (busy ones are left alone); the dispatcher
        calls this after each pass, so no connection outlives the work it was opened for."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            _quit(connection)

    def _connection(self) -> _Connection:
        """An idle connection (checked with RSET when it sat idle for a while), or a new one."""
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                return self._open()
            if self.clock.monotonic() - connection.idle_since < CHECK_AFTER_IDLE_S:
                return connection
            try:
                code, _ = connection.smtp.rset()
            except (smtplib.SMTPException, OSError):
                code = 0
            if code == 250:
                return connection
            _close(connection)  # dropped while idle: try the next one, or open one

    def _open(self) -> _Connection:
        smtp_class = smtplib.SMTP_SSL if self.use_ssl else smtplib.SMTP
        smtp = smtp_class(self.host, self.port, timeout=self.timeout_s)
        with self._lock:
            self.connections_opened += 1
        try:
            if self.login is not None:
                smtp.login(*self.login)
        except smtplib.SMTPAuthenticationError as exc:  # our configuration, not the message
            smtp.close()
            raise DeliveryError(f"SMTP login refused: {exc.smtp_code} {exc.smtp_error!r}",
                                permanent=False) from exc
        except BaseException:
            smtp.close()
            raise
        return _Connection(smtp, self.clock.monotonic())

    def _put_back(self, connection: _Connection) -> None:
        if connection.sent >= MESSAGES_PER_CONNECTION:
            _quit(connection)
            return
        connection.idle_since = self.clock.monotonic()
        with self._lock:
            self._idle.append(connection)


def _quit(connection: _Connection) -> None:
    try:
        connection.smtp.quit()
    except (smtplib.SMTPException, OSError):
        connection.smtp.close()


def _close(connection: _Connection) -> None:
    connection.smtp.close()


def _unreachable(exc: BaseException) -> DeliveryError:
    return DeliveryError(f"SMTP server unreachable: {type(exc).__name__}: {exc}",
                         permanent=False)


def _refused(code: int, text: bytes | str, recipient_fault: bool) -> DeliveryError:
    reply = text.decode(errors="replace") if isinstance(text, bytes) else text
    return DeliveryError(f"SMTP server answered {code} {reply}", permanent=500 <= code < 600,
                         recipient_fault=recipient_fault and 500 <= code < 600)
