"""Webhooks: a signed JSON POST to a subscriber's URL.

The body is the payload's `body` (or the payload without `subscriber_id`). Calls are signed
by the Standard Webhooks spec (www.standardwebhooks.com), so receivers verify them with its
libraries: `webhook-id` is the outbox row's key (the same for every attempt of one notice,
so a receiver can drop a repeat), `webhook-timestamp` Unix seconds, and `webhook-signature`
`v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`. The HMAC key is the subscriber's
secret: a `whsec_<base64>` secret is decoded as the spec says, any other is used as its
UTF-8 bytes (receivers pass those bytes, e.g. `Webhook(secret.encode())`).

The old scheme is sent too, for one release, for receivers written against it:
`X-Bellwether-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` with
`X-Bellwether-Timestamp` and `X-Bellwether-Delivery` (the same values as above).

Private, loopback and link-local targets are refused unless allowed (healthchecks'
`hc/lib/curl.py`); the checked address is the one connected to, so DNS cannot swap it in
between.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import httpx
from standardwebhooks import Webhook

from alerts.senders import Delivery, DeliveryError, retry_after_seconds
from core.clock import Clock

TIMEOUT = httpx.Timeout(10.0, connect=3.0)
ERROR_TEXT_BYTES = 300
#: How far from its own clock a receiver accepts a timestamp (five minutes).
TOLERANCE_S = 300.0
WHSEC_PREFIX = "whsec_"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value for this body at this timestamp."""
    message = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signing_key(secret: str) -> bytes:
    """The Standard Webhooks HMAC key of a subscriber's secret: a `whsec_` secret's base64
    part decoded, any other secret's UTF-8 bytes.

    >>> signing_key("whsec_aGVsbG8="), signing_key("plain-secret")
    (b'hello', b'plain-secret')
    """
    if secret.startswith(WHSEC_PREFIX):
        try:  # padded as the reference library does: unpadded secrets are common
            return base64.b64decode(secret.removeprefix(WHSEC_PREFIX) + "==")
        except binascii.Error:
            pass  # not the spec's form after all: sign with the text as it is
    return secret.encode()


def standard_signature(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    """The `webhook-signature` header's value, made by the spec's reference library:
    `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`."""
    moment = datetime.fromtimestamp(int(timestamp), UTC)
    return str(Webhook(signing_key(secret)).sign(message_id, moment, body.decode()))


def verify(secret: str, timestamp: str, body: bytes, signature: str,
           now: float | None = None, tolerance_s: float = TOLERANCE_S) -> bool:
    """Whether `signature` is ours for this body and timestamp (constant-time compare); with
    `now` (the receiver's Unix time), also whether the timestamp is within `tolerance_s`,
    so a captured call cannot be replayed later."""
    if now is not None:
        try:
            if abs(now - int(timestamp)) > tolerance_s:
                return False
        except ValueError:
            return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def is_private_address(address: str) -> bool:
    """Loopback, private, link-local, reserved, multicast or unspecified (not routable on the
    public internet), IPv4-mapped IPv6 included."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def signature_headers(secret: str, message_id: str, timestamp: str,
                      body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers, and the old `X-Bellwether-*` ones (kept one release)."""
    return {"webhook-id": message_id, "webhook-timestamp": timestamp,
            "webhook-signature": standard_signature(secret, message_id, timestamp, body),
            "X-Bellwether-Delivery": message_id, "X-Bellwether-Timestamp": timestamp,
            "X-Bellwether-Signature": sign(secret, timestamp, body)}


@dataclass(frozen=True, slots=True)
class Target:
    """Where to connect (`urls`, one per resolved address, the address in each) and who we
    say we talk to (`host_header`, and `hostname` for TLS)."""

    urls: tuple[str, ...]
    host_header: str
    hostname: str


def resolve_target(url: str, allow_private: bool) -> Target:
    """Resolve the URL's host once and pin its addresses; refuse the URL when any of them is
    private, unless allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeliveryError(f"not an http(s) URL: {url!r}", permanent=True, recipient_fault=True)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise DeliveryError(f"cannot resolve {parts.hostname}: {exc}", permanent=False,
                            recipient_fault=True) from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    private = [a for a in addresses if is_private_address(a)]
    if private and not allow_private:
        raise DeliveryError(f"refused: {parts.hostname} is the private address {private[0]}",
                            permanent=True, recipient_fault=True)
    urls = tuple(urlunsplit((parts.scheme, f"[{a}]:{port}" if ":" in a else f"{a}:{port}",
                             parts.path or "/", parts.query, "")) for a in addresses)
    return Target(urls, parts.netloc.rsplit("@", 1)[-1], parts.hostname)


class WebhookSender:
    """POSTs signed JSON with short timeouts (connect 3 s, each read or write 10 s).

    One SSL context serves every call: building one loads the CA bundle (~20 ms of CPU, far
    more than the POST). Plain-http calls share one pooled client (its connections keyed by
    the pinned address), closed by `close_idle` once no call is using it. Each https call
    gets a client of its own (cheap with the shared context): a pooled TLS connection is
    keyed by address alone, so it could carry a request for another hostname than the one
    its certificate was checked for.
    """

    def __init__(self, clock: Clock, allow_private: bool = False,
                 timeout: httpx.Timeout = TIMEOUT, verify: ssl.SSLContext | bool = True) -> None:
        self.clock = clock
        self.allow_private = allow_private
        self.timeout = timeout
        self.verify = httpx.create_ssl_context(verify=verify, trust_env=False)
        self._lock = threading.Lock()
        self._plain: httpx.Client | None = None
        self._plain_users = 0

    def send(self, delivery: Delivery) -> None:
        if not delivery.secret:
            raise DeliveryError("webhook has no signing secret", permanent=True)
        target = resolve_target(delivery.recipient, self.allow_private)
        body_value = delivery.payload.get("body")
        if body_value is None:
            body_value = {k: v for k, v in delivery.payload.items() if k != "subscriber_id"}
        body = json.dumps(body_value, separators=(",", ":"), sort_keys=True).encode()
        timestamp = str(int(self.clock.now().timestamp()))
        headers = {"Host": target.host_header, "Content-Type": "application/json",
                   "User-Agent": "Bellwether-Webhook/1", "X-Bellwether-Event": delivery.event_type,
                   **signature_headers(delivery.secret, delivery.key, timestamp, body)}
        if delivery.recipient.startswith("https"):
            with httpx.Client(timeout=self.timeout, verify=self.verify,
                              follow_redirects=False, trust_env=False) as client:
                status, text, answer_headers = _post(client, target, body, headers, tls=True)
        else:
            with self._plain_client() as client:
                status, text, answer_headers = _post(client, target, body, headers, tls=False)
        if status >= 300:
            raise self._failure(status, text.decode(errors="replace"), answer_headers)

    @contextmanager
    def _plain_client(self) -> Iterator[httpx.Client]:
        with self._lock:
            if self._plain is None:
                # No connection cap: the dispatcher's thread pool bounds the calls in flight,
                # and a cap would make calls wait for a slot behind a hanging receiver.
                self._plain = httpx.Client(
                    timeout=self.timeout, follow_redirects=False, trust_env=False,
                    limits=httpx.Limits(max_connections=None, max_keepalive_connections=32,
                                        keepalive_expiry=5.0))
            client = self._plain
            self._plain_users += 1
        try:
            yield client
        finally:
            with self._lock:
                self._plain_users -= 1

    def close_idle(self) -> None:
        """Close the pooled connections unless a call is using them (the next call opens
        new ones); the dispatcher calls this after each pass."""
        with self._lock:
            if self._plain is None or self._plain_users:
                return
            client, self._plain = self._plain, None
        client.close()

    def _failure(self, status: int, text: str, headers: httpx.Headers) -> DeliveryError:
        message = f"webhook answered {status}: {text}".rstrip(": ")
        if status == 410:
            return DeliveryError(message, permanent=True, recipient_gone=True)
        if status == 429 or status == 408 or status >= 500:
            wait = retry_after_seconds(headers.get("Retry-After"), self.clock.now())
            return DeliveryError(message, permanent=False, retry_after_s=wait,
                                 recipient_fault=True)
        return DeliveryError(message, permanent=True, recipient_fault=True)


def _post(client: httpx.Client, target: Target, body: bytes, headers: dict[str, str],
          tls: bool) -> tuple[int, bytes, httpx.Headers]:
    """POST to each pinned address in turn, moving on only when one refused the connection
    (nothing reached it); the status, the start of an error's body, and the headers."""
    extensions = {"sni_hostname": target.hostname} if tls else {}
    error: httpx.HTTPError | None = None
    for url in target.urls:
        request = client.build_request("POST", url, content=body, headers=headers,
                                       extensions=extensions)
        try:
            response = client.send(request, stream=True)
        except httpx.ConnectError as exc:
            error = exc
            continue
        except httpx.HTTPError as exc:
            error = exc
            break
        try:
            status = response.status_code
            return status, b"" if status < 300 else _first_bytes(response), response.headers
        finally:
            response.close()
    raise DeliveryError(f"webhook unreachable: {type(error).__name__}: {error}",
                        permanent=False, recipient_fault=True) from error


def _first_bytes(response: httpx.Response) -> bytes:
    data = b""
    try:
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) >= ERROR_TEXT_BYTES:
                break
    except httpx.HTTPError:  # the status is what matters; the text is only a hint
        pass
    return data[:ERROR_TEXT_BYTES]
