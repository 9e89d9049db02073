"""Email through a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from email.message import EmailMessage

import pytest

from alerts.dispatch import Dispatcher
from alerts.outbox import Notice
from alerts.senders import Delivery
from alerts.senders.email import SmtpMailer
from core.db import SessionFactory
from tests.alerts.builders import add_subscriber, drain, enqueue_notices, row, subscriber
from tests.support.clock import ManualClock
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


def test_one_connection_carries_a_pass_and_is_closed_after_it(
        factory: SessionFactory, clock: ManualClock, smtp: SmtpServer) -> None:
    sender = SmtpMailer(smtp.url, clock, timeout_s=5)
    people = [(f"p{i}@example.test", add_subscriber(factory, clock.now(), "email",
                                                     f"p{i}@example.test")) for i in range(5)]
    enqueue_notices(factory, clock.now(), [an_update(f"email:u1:{sid}", to, sid)
                                           for to, sid in people])
    dispatcher = Dispatcher({"email": sender}, pool_size=1, rng=NoJitter())
    assert dispatcher.run_once(factory, clock) == 5
    assert sorted(m.rcpt_tos[0] for m in smtp.mails) == sorted(to for to, _ in people)
    assert sender.connections_opened == 1
    smtp.stop()  # the pass said goodbye: nothing is left to notice the server going away
    smtp.start()
    enqueue_notices(factory, clock.now(), [an_update("email:u2:p0", people[0][0], people[0][1])])
    assert dispatcher.run_once(factory, clock) == 1
    assert sender.connections_opened == 2
    assert row(factory, "email:u2:p0").status == "delivered"


def test_a_connection_the_server_dropped_while_idle_is_replaced_without_a_failure(
        clock: ManualClock, smtp: SmtpServer) -> None:
    sender = SmtpMailer(smtp.url, clock, timeout_s=5)
    try:
        sender.send(Delivery(id=1, key="k1", channel="email", recipient="ann@example.test",
                             event_type="incident.update", payload={"subject": "s", "text": "1"}))
        smtp.stop()  # drops the open connection
        smtp.start()
        clock.advance(timedelta(seconds=2))
        sender.send(Delivery(id=2, key="k2", channel="email", recipient="ann@example.test",
                             event_type="incident.update", payload={"subject": "s", "text": "2"}))
    finally:
        sender.close_idle()
    assert [body_text(m.message) for m in smtp.mails] == ["1", "2"]
    assert sender.connections_opened == 2


def test_a_long_message_arrives_whole(factory: SessionFactory, clock: ManualClock,
                                      smtp: SmtpServer) -> None:
    ann = add_subscriber(factory, clock.now(), "email", "ann@example.test")
    text = "".join(f"line {i}: " + "é" * 300 + "\n" for i in range(200))
    notice = an_update("email:u1:ann", "ann@example.test", ann)
    enqueue_notices(factory, clock.now(), [replace(notice, payload={**notice.payload,
                                                                    "text": text})])
    drain(mailer(smtp, clock), factory, clock)
    assert row(factory, "email:u1:ann").status == "delivered"
    assert body_text(smtp.mails[0].message) == text


@pytest.mark.parametrize("subject", ["orders down\nBcc: eve@example.test", "orders\r down"])
def test_a_line_break_in_a_header_is_refused_for_good(
        subject: str, factory: SessionFactory, clock: ManualClock, smtp: SmtpServer) -> None:
    ann = add_subscriber(factory, clock.now(), "email", "ann@example.test")
    notice = an_update("email:u1:ann", "ann@example.test", ann)
    enqueue_notices(factory, clock.now(), [replace(notice, payload={**notice.payload,
                                                                    "subject": subject})])
    drain(mailer(smtp, clock), factory, clock)
    dead = row(factory, "email:u1:ann")
    assert dead.status == "dead"
    assert dead.last_error is not None
    assert dead.last_error.startswith("malformed email payload: ValueError('line break")
    assert smtp.mails == []


def body_text(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())
