"""Webhooks by the Standard Webhooks spec: a loopback receiver verifies each call with the
spec's own library (`standardwebhooks.Webhook.verify`) at the moment it arrives, so the
sender's clock is the wall clock here (the library checks the timestamp against it)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from alerts.dispatch import Dispatcher
from alerts.senders.webhook import WebhookSender, signing_key, standard_signature
from core.clock import SystemClock
from core.db import SessionFactory
from tests.alerts.builders import add_subscriber, drain, enqueue_notices, row, webhook_notice
from tests.alerts.test_webhook import NoJitter
from tests.support.clock import ManualClock
from tests.support.webhooks import Received, WebhookReceiver

PLAIN_SECRET = "Zt3q-token_urlsafe-like-secret_0123456789abc"  # what subscribers get today
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the spec's own form
BODY = {"incident": {"id": 7, "status": "investigating", "title": "orders down"}}


class StandardReceiver(WebhookReceiver):
    """Records each call with what `Webhook.verify` made of it: the parsed body, or the
    library's error text."""

    def __init__(self, key: str | bytes) -> None:
        super().__init__("unused-by-the-standard-check")
        self.webhook = Webhook(key)
        self.verdicts: list[object] = []

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", "0"))
        body = handler.rfile.read(length)
        headers = dict(handler.headers.items())
        try:
            verdict: object = self.webhook.verify(body, headers)
        except WebhookVerificationError as exc:
            verdict = f"refused: {exc}"
        self.verdicts.append(verdict)
        self.received.append(Received(handler.path, headers, body, verdict == BODY))
        status = self._script.popleft() if self._script else 204
        handler.send_response(status)
        handler.send_header("Content-Length", "0")
        handler.end_headers()


@pytest.fixture
def now_clock() -> ManualClock:
    """A moved clock that starts at the wall clock's now: the receiver's library checks the
    timestamp against its own clock (five minutes either way)."""
    return ManualClock(SystemClock().now())


def _receiver(key: str | bytes) -> Iterator[StandardReceiver]:
    server = StandardReceiver(key)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def plain_receiver() -> Iterator[StandardReceiver]:
    yield from _receiver(PLAIN_SECRET.encode())


@pytest.fixture
def spec_receiver() -> Iterator[StandardReceiver]:
    yield from _receiver(SPEC_SECRET)


def hooks(clock: ManualClock) -> Dispatcher:
    return Dispatcher({"webhook": WebhookSender(clock, allow_private=True)}, rng=NoJitter())


def test_the_signature_is_hmac_sha256_of_id_dot_timestamp_dot_body_in_base64() -> None:
    expected = base64.b64encode(hmac.new(b"k", b"msg_1.1700000000.{}", hashlib.sha256)
                                .digest()).decode()
    assert standard_signature("k", "msg_1", "1700000000", b"{}") == f"v1,{expected}"


def test_a_whsec_secret_is_its_decoded_base64_and_any_other_its_bytes() -> None:
    assert signing_key("whsec_aGVsbG8=") == b"hello"
    assert signing_key("whsec_aGVsbG8") == b"hello"  # unpadded, as the library accepts
    assert signing_key(PLAIN_SECRET) == PLAIN_SECRET.encode()


def test_a_receiver_verifies_a_webhook_with_the_standard_webhooks_library(
        factory: SessionFactory, now_clock: ManualClock,
        plain_receiver: StandardReceiver) -> None:
    url = f"{plain_receiver.url}/hook"
    ann = add_subscriber(factory, now_clock.now(), "webhook", url, PLAIN_SECRET)
    enqueue_notices(factory, now_clock.now(), [webhook_notice("hook:u1:ann", url, ann, BODY)])
    assert drain(hooks(now_clock), factory, now_clock) == 1
    assert plain_receiver.verdicts == [BODY]
    headers = {k.lower(): v for k, v in plain_receiver.received[0].headers.items()}
    assert headers["webhook-id"] == "hook:u1:ann"
    assert headers["webhook-timestamp"] == str(int(now_clock.now().timestamp()))
    assert headers["webhook-signature"].startswith("v1,")
    assert row(factory, "hook:u1:ann").status == "delivered"


def test_a_whsec_secret_verifies_as_the_spec_writes_it(
        factory: SessionFactory, now_clock: ManualClock,
        spec_receiver: StandardReceiver) -> None:
    url = f"{spec_receiver.url}/hook"
    ann = add_subscriber(factory, now_clock.now(), "webhook", url, SPEC_SECRET)
    enqueue_notices(factory, now_clock.now(), [webhook_notice("hook:u1:ann", url, ann, BODY)])
    drain(hooks(now_clock), factory, now_clock)
    assert spec_receiver.verdicts == [BODY]


def test_another_secret_or_a_changed_body_is_refused_by_the_library(
        factory: SessionFactory, now_clock: ManualClock,
        spec_receiver: StandardReceiver) -> None:
    url = f"{spec_receiver.url}/hook"
    ann = add_subscriber(factory, now_clock.now(), "webhook", url, PLAIN_SECRET)
    enqueue_notices(factory, now_clock.now(), [webhook_notice("hook:u1:ann", url, ann, BODY)])
    drain(hooks(now_clock), factory, now_clock)
    assert spec_receiver.verdicts == ["refused: No matching signature found"]
    call = spec_receiver.received[0]
    with pytest.raises(WebhookVerificationError):
        Webhook(PLAIN_SECRET.encode()).verify(call.body.replace(b"7", b"8"), call.headers)


def test_every_attempt_of_one_notice_carries_the_same_webhook_id(
        factory: SessionFactory, now_clock: ManualClock,
        plain_receiver: StandardReceiver) -> None:
    url = f"{plain_receiver.url}/hook"
    ann = add_subscriber(factory, now_clock.now(), "webhook", url, PLAIN_SECRET)
    plain_receiver.answer_next(503)
    enqueue_notices(factory, now_clock.now(), [webhook_notice("hook:u1:ann", url, ann, BODY)])
    dispatcher = hooks(now_clock)
    drain(dispatcher, factory, now_clock)
    assert row(factory, "hook:u1:ann").status == "pending"
    now_clock.advance(timedelta(seconds=15))
    drain(dispatcher, factory, now_clock)
    calls = [{k.lower(): v for k, v in c.headers.items()} for c in plain_receiver.received]
    first = str(int((now_clock.now() - timedelta(seconds=15)).timestamp()))
    second = str(int(now_clock.now().timestamp()))
    assert [(c["webhook-id"], c["webhook-timestamp"]) for c in calls] == \
        [("hook:u1:ann", first), ("hook:u1:ann", second)]
    assert plain_receiver.verdicts == [BODY, BODY]
    assert row(factory, "hook:u1:ann").status == "delivered"


def test_the_old_signature_header_still_comes_for_existing_subscribers(
        factory: SessionFactory, now_clock: ManualClock,
        plain_receiver: StandardReceiver) -> None:
    from alerts.senders.webhook import verify
    url = f"{plain_receiver.url}/hook"
    ann = add_subscriber(factory, now_clock.now(), "webhook", url, PLAIN_SECRET)
    enqueue_notices(factory, now_clock.now(), [webhook_notice("hook:u1:ann", url, ann, BODY)])
    drain(hooks(now_clock), factory, now_clock)
    call = {k.lower(): v for k, v in plain_receiver.received[0].headers.items()}
    assert call["x-bellwether-delivery"] == call["webhook-id"]
    assert call["x-bellwether-timestamp"] == call["webhook-timestamp"]
    assert verify(PLAIN_SECRET, call["x-bellwether-timestamp"], plain_receiver.received[0].body,
                  call["x-bellwether-signature"], now=now_clock.now().timestamp())
