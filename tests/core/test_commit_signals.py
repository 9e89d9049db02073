"""Commit signals between processes: on PostgreSQL a commit in another process wakes a
waiter here (LISTEN/NOTIFY), a rollback wakes nobody, a lost connection is made good; on
SQLite nothing is sent and the signal stays in-process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from alerts.outbox import ENQUEUED, NOTICE_LANE, PAGE_LANE
from commerce.store import WORK_ARRIVED
from core.db import make_engine, make_session_factory, session_scope
from core.signals import CommitListener, CommitSignal, Look, commit_listener
from tests.support.databases import create_database, drop_database, postgres_server_url
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]

#: Another process: commits one transaction per argument, marking the named signals
#: ("rollback:" first: marks, then rolls back). Signals are looked up as this code base
#: defines them, so the names are the real ones.
OTHER_PROCESS = """
import sys
from alerts.outbox import ENQUEUED
from commerce.store import WORK_ARRIVED
from core.db import make_engine, make_session_factory, session_scope
from core.signals import SIGNALS
engine = make_engine(sys.argv[1])
factory = make_session_factory(engine)
for step in sys.argv[2:]:
    rollback = step.startswith("rollback:")
    session = factory()
    for name in step.removeprefix("rollback:").split(","):
        SIGNALS[name].mark(session)
    session.execute(__import__("sqlalchemy").text("SELECT 1"))
    session.rollback() if rollback else session.commit()
    session.close()
engine.dispose()
"""


def in_another_process(url: str, *steps: str) -> None:
    subprocess.run([sys.executable, "-c", OTHER_PROCESS, url, *steps], cwd=ROOT, check=True,
                   timeout=120)


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    url = create_database(tmp_path, "signals")
    yield url
    drop_database(url)


@pytest.fixture
def listener(database_url: str) -> Iterator[CommitListener]:
    if postgres_server_url() is None:
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; the SQLite pass tests "
                    "test_sqlite_keeps_signals_in_process instead")
    found = commit_listener(database_url)
    assert found is not None
    found.start()
    wait_until(found.listening.is_set, timeout=30, message="the listener to LISTEN")
    yield found
    found.stop()


def test_a_commit_in_another_process_wakes_a_waiter_here(listener: CommitListener,
                                                          database_url: str) -> None:
    pages, notices = ENQUEUED[PAGE_LANE], ENQUEUED[NOTICE_LANE]
    look = Look(pages, safety_s=3600)  # a safety net that would not look for an hour
    assert look.due(0.0)
    assert not look.due(1.0)
    before = pages.generation, notices.generation, WORK_ARRIVED.generation
    # A rollback wakes nobody; the next commit's notification arrives after it would have.
    in_another_process(database_url, f"rollback:{pages.name},{notices.name}",
                       WORK_ARRIVED.name)
    wait_until(lambda: WORK_ARRIVED.generation > before[2], timeout=30,
               message="the other process's commit to fire WORK_ARRIVED here")
    assert (pages.generation, notices.generation) == before[:2]
    assert not look.due(2.0)

    in_another_process(database_url, f"{pages.name},{notices.name}")
    wait_until(lambda: pages.generation > before[0], timeout=30,
               message="the other process's enqueue to wake the page lane here")
    wait_until(lambda: notices.generation > before[1], timeout=30,
               message="… and the notice lanes")
    assert look.due(3.0)  # the waiter looks at once, not in an hour


def test_own_commits_fire_once_and_a_lost_connection_is_made_good(
        listener: CommitListener, database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        factory = make_session_factory(engine)
        before = WORK_ARRIVED.generation
        with session_scope(factory) as session:
            WORK_ARRIVED.mark(session)
        assert WORK_ARRIVED.generation == before + 1  # fired at commit, in this process
        received = listener.received
        in_another_process(database_url, WORK_ARRIVED.name)
        wait_until(lambda: listener.received > received, timeout=30,
                   message="the other process's notification")
        # Our own NOTIFY was committed first, so it was delivered first and skipped.
        assert WORK_ARRIVED.generation == before + 2
        assert listener.received == received + 1

        # The listening connection is cut: it reconnects and fires every signal once.
        generation = ENQUEUED[PAGE_LANE].generation
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"),
                         {"pid": listener.backend_pid})
        wait_until(lambda: listener.connections == 2 and listener.listening.is_set(),
                   timeout=30, message="the listener to reconnect")
        assert ENQUEUED[PAGE_LANE].generation > generation
        received = listener.received
        in_another_process(database_url, WORK_ARRIVED.name)
        wait_until(lambda: listener.received > received, timeout=30,
                   message="notifications after the reconnect")
    finally:
        engine.dispose()


def test_sqlite_keeps_signals_in_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'signals.sqlite'}"
    assert commit_listener(url) is None
    engine = make_engine(url)
    statements: list[str] = []
    from sqlalchemy import event

    event.listen(engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_a: statements.append(statement))
    try:
        signal = CommitSignal("test signal")
        with session_scope(make_session_factory(engine)) as session:
            signal.mark(session)
            session.execute(text("SELECT 1"))
        assert signal.generation == 1
        assert not [s for s in statements if "notify" in s.lower()]
        session = make_session_factory(engine)()
        signal.mark(session)
        session.execute(text("SELECT 1"))
        session.rollback()
        session.close()
        assert signal.generation == 1
    finally:
        engine.dispose()
