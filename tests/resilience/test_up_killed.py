"""`bellwether up` killed with SIGKILL in the middle of a fan-out: the restart finishes it,
and nobody hears twice beyond the crash window the contract names (rows in flight)."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert, select

from core import migrate
from core.db import make_engine, make_session_factory, session_scope
from status.models import Subscriber, SubscriberScope
from tests.support.databases import create_database, drop_database
from tests.support.outbox import in_flight
from tests.support.processes import BellwetherProcess
from tests.support.smtp import running_smtp
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e
TOKEN = "bw_kill_admin_token_0123456789"
REGION = "europe-west1.gcp"
SUBSCRIBERS = 300


def seed_subscribers(url: str) -> None:
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            from datetime import UTC, datetime

            now = datetime.now(UTC)
            session.execute(insert(Subscriber), [
                {"kind": "email", "address": f"s{i}@example.test", "created_at": now,
                 "confirmed_at": now, "consecutive_failures": 0} for i in range(SUBSCRIBERS)])
            ids = list(session.scalars(select(Subscriber.id)))
            session.execute(insert(SubscriberScope), [
                {"subscriber_id": i, "region": REGION, "component": ""} for i in ids])
    finally:
        engine.dispose()


def test_a_killed_instance_finishes_its_fan_out_after_a_restart(tmp_path: Path) -> None:
    url = create_database(tmp_path, "killed")
    migrate.upgrade(url)
    seed_subscribers(url)
    config = tmp_path / "bellwether.toml"
    config.write_text("outbox_lease_s = 2\nbackup_interval_minutes = 100000\n",
                      encoding="utf-8")
    with running_smtp() as smtp:
        env = {"BELLWETHER_SMTP_URL": smtp.url, "BELLWETHER_CONFIG": str(config),
               "BELLWETHER_REGIONS": REGION, "BELLWETHER_SECRET_KEY": "kill-secret"}
        first = BellwetherProcess(tmp_path / "data", url, TOKEN, extra_env=env)
        second = BellwetherProcess(tmp_path / "data", url, TOKEN, extra_env=env)
        try:
            first.start()
            made = httpx.post(f"{first.url}/api/v1/incidents", timeout=10,
                              headers={"Authorization": f"Bearer {TOKEN}"}, json={
                                  "title": "Checkout failing", "impact": "major",
                                  "message": "We are on it.", "status": "investigating",
                                  "components": [{"component": "orders", "region": REGION,
                                                  "state": "major_outage"}]})
            assert made.status_code == 201, made.text
            wait_until(lambda: len(smtp.mails) >= 40, timeout=60, interval=0.05,
                       message="the fan-out under way")
            first.stop(signal.SIGKILL)
            window = in_flight(url)
            delivered_before = len(smtp.mails)
            assert delivered_before < SUBSCRIBERS, "killed before the fan-out finished"
            second.start()
            wait_until(lambda: len({m.rcpt_tos[0] for m in smtp.mails}) >= SUBSCRIBERS,
                       timeout=120, interval=0.2, message="every subscriber told")
        finally:
            first.kill()
            if second.proc is not None:
                second.stop()
    drop_database(url)
    counts = Counter(m.rcpt_tos[0] for m in smtp.mails)
    assert len(counts) == SUBSCRIBERS
    twice = sum(1 for n in counts.values() if n > 1)
    assert twice <= window, (twice, window)
    print(f"killed after {delivered_before} of {SUBSCRIBERS} mails, {window} in flight; "
          f"{twice} subscriber(s) got the notice twice")
