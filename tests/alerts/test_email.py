"""Email through a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta

import pytest

from alerts.dispatch import Dispatcher
from alerts.outbox import Notice
from alerts.senders.email import SmtpMailer
from core.clock import ManualClock
from core.db import SessionFactory
from tests.alerts.builders import add_subscriber, drain, enqueue_notices, row, subscriber
from tests.support.smtp import SmtpServer, running_smtp

UNSUBSCRIBE = "<https://status.example.test/unsubscribe/t0ken>"


class NoJitter(random.Random):
    def random(self) -> float:
        return 0.0


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with running_smtp() as server:
        yield server


def mailer(smtp: SmtpServer, clock: ManualClock) -> Dispatcher:
    sender = SmtpMailer(smtp.url, clock, sender="Status <status@example.test>", timeout_s=5)
    return Dispatcher({"email": sender}, rng=NoJitter())


def an_update(key: str, to: str, subscriber_id: int) -> Notice:
    return Notice(key=key, channel="email", recipient=to, event_type="incident.update",
                  payload={"subscriber_id": subscriber_id,
                           "subject": "[Investigating] orders down in europe-west1",
                           "text": "We are looking into failing orders.",
                           "html": "<p>We are looking into <b>failing orders</b>.</p>",
                           "headers": {"List-Unsubscribe": UNSUBSCRIBE,
                                       "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}})


def test_an_email_arrives_with_text_html_and_unsubscribe_headers(
        factory: SessionFactory, clock: ManualClock, smtp: SmtpServer) -> None:
    ann = add_subscriber(factory, clock.now(), "email", "ann@example.test")
    enqueue_notices(factory, clock.now(), [an_update("email:u1:ann", "ann@example.test", ann)])
    assert drain(mailer(smtp, clock), factory, clock) == 1
    [mail] = smtp.mails
    assert (mail.mail_from, mail.rcpt_tos) == ("status@example.test", ("ann@example.test",))
    message = mail.message
    assert message["Subject"] == "[Investigating] orders down in europe-west1"
    assert message["List-Unsubscribe"] == UNSUBSCRIBE
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert "failing orders" in text.get_content()
    assert html is not None
    assert "<b>failing orders</b>" in html.get_content()
    assert row(factory, "email:u1:ann").status == "delivered"


def test_mail_waits_while_the_smtp_server_is_down_and_goes_when_it_is_back(
        factory: SessionFactory, clock: ManualClock, smtp: SmtpServer) -> None:
    ann = add_subscriber(factory, clock.now(), "email", "ann@example.test")
    smtp.stop()
    enqueue_notices(factory, clock.now(), [an_update("email:u1:ann", "ann@example.test", ann)])
    dispatcher = mailer(smtp, clock)
    for _ in range(3):
        drain(dispatcher, factory, clock)
        clock.advance(timedelta(seconds=40))
    waiting = row(factory, "email:u1:ann")
    assert (waiting.status, waiting.attempts) == ("pending", 3)
    assert waiting.last_error is not None
    assert "ConnectionRefusedError" in waiting.last_error
    assert subscriber(factory, ann).consecutive_failures == 0  # our relay, not Ann
    smtp.start()
    clock.advance(timedelta(minutes=2))
    drain(dispatcher, factory, clock)
    assert row(factory, "email:u1:ann").status == "delivered"
    assert len(smtp.mails) == 1


def test_a_refused_address_is_dead_and_counts_against_the_subscriber(
        factory: SessionFactory, clock: ManualClock, smtp: SmtpServer) -> None:
    bob = add_subscriber(factory, clock.now(), "email", "bob@example.test")
    smtp.refusals["bob@example.test"] = "550 5.1.1 no such user"
    enqueue_notices(factory, clock.now(), [an_update("email:u1:bob", "bob@example.test", bob)])
    drain(mailer(smtp, clock), factory, clock)
    dead = row(factory, "email:u1:bob")
    assert (dead.status, dead.last_error) == ("dead", "SMTP server answered 550 5.1.1 no such user")
    assert subscriber(factory, bob).consecutive_failures == 1


def test_a_temporary_refusal_is_retried(factory: SessionFactory, clock: ManualClock,
                                        smtp: SmtpServer) -> None:
    bob = add_subscriber(factory, clock.now(), "email", "bob@example.test")
    smtp.refusals["bob@example.test"] = "450 4.2.1 mailbox busy, try later"
    enqueue_notices(factory, clock.now(), [an_update("email:u1:bob", "bob@example.test", bob)])
    dispatcher = mailer(smtp, clock)
    drain(dispatcher, factory, clock)
    assert row(factory, "email:u1:bob").status == "pending"
    del smtp.refusals["bob@example.test"]
    clock.advance(timedelta(seconds=10))
    drain(dispatcher, factory, clock)
    assert row(factory, "email:u1:bob").status == "delivered"
    assert [m.rcpt_tos for m in smtp.mails] == [("bob@example.test",)]
