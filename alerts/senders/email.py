"""Email through SMTP (`BELLWETHER_SMTP_URL`, smtp:// or smtps://, optional user:password).

The payload carries `subject`, `text`, optionally `html` and `headers` (List-Unsubscribe,
List-Unsubscribe-Post, ...); the recipient is the address.
"""

from __future__ import annotations

import hashlib
import smtplib
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import unquote, urlsplit

from alerts.senders import Delivery, DeliveryError
from core.clock import Clock

TIMEOUT_S = 10.0
DEFAULT_FROM = "Bellwether <bellwether@localhost>"


class SmtpMailer:
    """One SMTP connection per message; 4xx and connection trouble are retried, 5xx not."""

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
        self.timeout_s = timeout_s

    def message(self, delivery: Delivery) -> EmailMessage:
        """The MIME message: text, with an HTML alternative when the payload has one."""
        payload = delivery.payload
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = delivery.recipient
        msg["Subject"] = str(payload["subject"])
        msg["Date"] = format_datetime(self.clock.now())
        # Stable per outbox row: a retried send after a crash is the same message.
        msg["Message-ID"] = f"<{hashlib.sha256(delivery.key.encode()).hexdigest()[:32]}@bellwether>"
        for name, value in dict(payload.get("headers", {})).items():
            msg[name] = str(value)
        msg.set_content(str(payload["text"]))
        if payload.get("html"):
            msg.add_alternative(str(payload["html"]), subtype="html")
        return msg

    def send(self, delivery: Delivery) -> None:
        try:
            msg = self.message(delivery)
        except (KeyError, TypeError, ValueError) as exc:  # no subject, a repeated To: header
            raise DeliveryError(f"malformed email payload: {exc!r}", permanent=True) from exc
        smtp_class = smtplib.SMTP_SSL if self.use_ssl else smtplib.SMTP
        try:
            with smtp_class(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.login is not None:
                    smtp.login(*self.login)
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise _refused(code, text, recipient_fault=True) from exc
        except smtplib.SMTPAuthenticationError as exc:  # our configuration, not the message
            raise DeliveryError(f"SMTP login refused: {exc.smtp_code} {exc.smtp_error!r}",
                                permanent=False) from exc
        except smtplib.SMTPResponseException as exc:
            raise _refused(exc.smtp_code, exc.smtp_error, recipient_fault=False) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP server unreachable: {type(exc).__name__}: {exc}",
                                permanent=False) from exc


def _refused(code: int, text: bytes | str, recipient_fault: bool) -> DeliveryError:
    reply = text.decode(errors="replace") if isinstance(text, bytes) else text
    return DeliveryError(f"SMTP server answered {code} {reply}", permanent=500 <= code < 600,
                         recipient_fault=recipient_fault and 500 <= code < 600)
