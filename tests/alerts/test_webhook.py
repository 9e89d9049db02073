"""Webhooks to local receivers: signatures, a hanging receiver, private addresses, a receiver
that keeps failing."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import ssl
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from alerts.dispatch import Dispatcher
from alerts.senders import DeliveryError
from alerts.senders.webhook import (
    TIMEOUT,
    WebhookSender,
    is_private_address,
    resolve_target,
    sign,
    verify,
)
from core.db import SessionFactory
from tests.alerts.builders import (
    add_subscriber,
    drain,
    enqueue_notices,
    row,
    rows,
    subscriber,
    webhook_notice,
)
from tests.support.clock import ManualClock
from tests.support.waiting import wait_until
from tests.support.webhooks import HangingReceiver, WebhookReceiver

SECRET = "whsec-0123456789"
BODY = {"incident": {"id": 7, "status": "investigating", "title": "orders down"}}


class NoJitter(random.Random):
    def random(self) -> float:
        return 0.0


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver(SECRET)
    server.start()
    yield server
    server.stop()


def hooks(clock: ManualClock, allow_private: bool = True, timeout: httpx.Timeout = TIMEOUT,
          verify: ssl.SSLContext | bool = True) -> Dispatcher:
    sender = WebhookSender(clock, allow_private=allow_private, timeout=timeout, verify=verify)
    return Dispatcher({"webhook": sender}, rng=NoJitter())


def test_sign_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(b"k", b"1700000000.{}", hashlib.sha256).hexdigest()
    assert sign("k", "1700000000", b"{}") == f"sha256={expected}"
    assert verify("k", "1700000000", b"{}", f"sha256={expected}")
    assert not verify("k", "1700000000", b"{ }", f"sha256={expected}")
    assert not verify("other", "1700000000", b"{}", f"sha256={expected}")
    assert not verify("k", "1700000001", b"{}", f"sha256={expected}")


def test_verify_refuses_a_timestamp_too_far_from_the_receivers_clock() -> None:
    signature = sign("k", "1700000000", b"{}")
    assert verify("k", "1700000000", b"{}", signature, now=1700000299.0)
    assert not verify("k", "1700000000", b"{}", signature, now=1700000301.0)
    assert not verify("k", "1700000000", b"{}", signature, now=1699999699.0)
    assert not verify("k", "yesterday", b"{}", sign("k", "yesterday", b"{}"), now=1700000000.0)


def test_a_webhook_arrives_signed_with_the_subscribers_secret(
        factory: SessionFactory, clock: ManualClock, receiver: WebhookReceiver) -> None:
    ann = add_subscriber(factory, clock.now(), "webhook", f"{receiver.url}/hook", SECRET)
    enqueue_notices(factory, clock.now(),
                    [webhook_notice("hook:u1:ann", f"{receiver.url}/hook?x=1", ann, BODY)])
    assert drain(hooks(clock), factory, clock) == 1
    [call] = receiver.received
    assert call.signature_ok
    assert call.path == "/hook?x=1"
    assert call.json() == BODY
    assert call.headers["x-bellwether-timestamp"] == str(int(clock.now().timestamp()))
    assert call.headers["x-bellwether-delivery"] == "hook:u1:ann"
    assert call.headers["host"] == f"127.0.0.1:{receiver.port}"
    assert row(factory, "hook:u1:ann").status == "delivered"


def test_a_hanging_receiver_does_not_hold_up_another_in_the_same_batch(
        factory: SessionFactory, clock: ManualClock, receiver: WebhookReceiver) -> None:
    hanging = HangingReceiver()
    try:
        slow = add_subscriber(factory, clock.now(), "webhook", hanging.url, SECRET)
        fine = add_subscriber(factory, clock.now(), "webhook", receiver.url, SECRET)
        # The hanging one first: with a pool of one, the other would wait behind it.
        enqueue_notices(factory, clock.now(), [
            webhook_notice("hook:u1:slow", hanging.url, slow, BODY),
            webhook_notice("hook:u1:fine", f"{receiver.url}/hook", fine, BODY)])
        dispatcher = hooks(clock)
        batch = threading.Thread(target=dispatcher.run_once, args=(factory, clock))
        batch.start()
        wait_until(lambda: hanging.connections == 1, message="the hanging receiver's call")
        wait_until(lambda: row(factory, "hook:u1:fine").status == "delivered",
                   message="the other receiver's delivery while the first one hangs")
        assert batch.is_alive()
        assert row(factory, "hook:u1:slow").status == "sending"
        hanging.release()  # hang up: the waiting delivery fails and is retried later
        batch.join(timeout=30)
    finally:
        hanging.stop()
    slow_row = row(factory, "hook:u1:slow")
    assert (slow_row.status, slow_row.attempts) == ("pending", 1)
    # Closed with the request unread: a reset (ReadError) or, at times, a plain hang-up.
    assert slow_row.last_error is not None
    assert slow_row.last_error.startswith("webhook unreachable: ")
    assert len(receiver.received) == 1


def test_a_receiver_that_never_answers_times_out_and_is_retried(
        factory: SessionFactory, clock: ManualClock) -> None:
    hanging = HangingReceiver()
    try:
        slow = add_subscriber(factory, clock.now(), "webhook", hanging.url, SECRET)
        enqueue_notices(factory, clock.now(), [webhook_notice("hook:u1", hanging.url, slow, BODY)])
        drain(hooks(clock, timeout=httpx.Timeout(0.3, connect=3.0)), factory, clock)
    finally:
        hanging.stop()
    waiting = row(factory, "hook:u1")
    assert waiting.status == "pending"
    assert waiting.last_error == "webhook unreachable: ReadTimeout: timed out"
    assert subscriber(factory, slow).consecutive_failures == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_private_addresses_are_refused_unless_allowed(
        host: str, factory: SessionFactory, clock: ManualClock,
        receiver: WebhookReceiver) -> None:
    url = f"http://{host}:{receiver.port}/hook"
    ann = add_subscriber(factory, clock.now(), "webhook", url, SECRET)
    enqueue_notices(factory, clock.now(), [webhook_notice("hook:u1", url, ann, BODY)])
    drain(hooks(clock, allow_private=False), factory, clock)
    dead = row(factory, "hook:u1")
    assert (dead.status, dead.last_error) == \
        ("dead", f"refused: {host} is the private address 127.0.0.1")
    assert receiver.received == []


@pytest.mark.parametrize(("address", "private"), [
    ("127.0.0.1", True), ("10.1.2.3", True), ("172.16.0.9", True), ("192.168.1.1", True),
    ("169.254.169.254", True), ("100.64.0.1", True), ("0.0.0.0", True), ("224.0.0.1", True),
    ("::1", True), ("fe80::1%eth0", True), ("fc00::1", True), ("::ffff:127.0.0.1", True),
    ("8.8.8.8", False), ("2606:4700:4700::1111", False), ("::ffff:8.8.8.8", False)])
def test_which_addresses_count_as_private(address: str, private: bool) -> None:
    assert is_private_address(address) is private


def test_a_url_that_is_not_http_is_refused_for_good() -> None:
    with pytest.raises(DeliveryError, match="not an http") as refused:
        resolve_target("ftp://example.test/hook", allow_private=False)
    assert refused.value.permanent


def test_a_webhook_that_keeps_failing_ends_dead_and_its_subscriber_disabled(
        factory: SessionFactory, clock: ManualClock, receiver: WebhookReceiver) -> None:
    ann = add_subscriber(factory, clock.now(), "webhook", receiver.url, SECRET)
    receiver.answer_next(500, times=50)
    enqueue_notices(factory, clock.now(), [webhook_notice("hook:u1", receiver.url, ann, BODY)])
    dispatcher = hooks(clock)
    for _ in range(15):
        drain(dispatcher, factory, clock)
        clock.advance(timedelta(minutes=30))
    dead = row(factory, "hook:u1")
    assert (dead.status, dead.attempts) == ("dead", 12)
    assert dead.last_error is not None
    assert dead.last_error.startswith("webhook answered 500")
    after = subscriber(factory, ann)
    assert after.consecutive_failures == 12
    assert after.disabled_at is not None
    assert len(receiver.received) == 12
    enqueue_notices(factory, clock.now(), [webhook_notice("hook:u2", receiver.url, ann, BODY)])
    drain(dispatcher, factory, clock)
    assert row(factory, "hook:u2").last_error == "not sent: subscriber disabled"
    assert len(receiver.received) == 12


@pytest.mark.parametrize(("status", "outcome"), [
    (410, "dead"), (404, "dead"), (301, "dead"), (429, "pending"), (503, "pending")])
def test_what_each_answer_means(status: int, outcome: str, factory: SessionFactory,
                                clock: ManualClock, receiver: WebhookReceiver) -> None:
    ann = add_subscriber(factory, clock.now(), "webhook", receiver.url, SECRET)
    receiver.answer_next(status)
    enqueue_notices(factory, clock.now(), [webhook_notice("hook:u1", receiver.url, ann, BODY)])
    drain(hooks(clock), factory, clock)
    assert row(factory, "hook:u1").status == outcome
    assert (subscriber(factory, ann).disabled_at is not None) is (status == 410)


def test_an_https_webhook_pinned_to_its_address_still_checks_the_hostname(
        factory: SessionFactory, clock: ManualClock, certificate: tuple[Path, Path]) -> None:
    receiver = WebhookReceiver(SECRET, *certificate)
    receiver.start()
    try:
        url = f"https://localhost:{receiver.port}/hook"
        ann = add_subscriber(factory, clock.now(), "webhook", url, SECRET)
        enqueue_notices(factory, clock.now(), [webhook_notice("hook:u1", url, ann, BODY)])
        trusted = ssl.create_default_context(cafile=str(certificate[0]))
        drain(hooks(clock, verify=trusted), factory, clock)
        assert [r.status for r in rows(factory)] == ["delivered"]
        assert receiver.received[0].headers["host"] == f"localhost:{receiver.port}"
        assert json.loads(receiver.received[0].body) == BODY
    finally:
        receiver.stop()
