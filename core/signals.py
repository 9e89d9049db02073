"""Wake-ups on commit, within a process and, on PostgreSQL, between processes.

Work that waits for new rows (the outbox's page and notice lanes, the commerce worker's
messages and imports) used to poll the database several times a second whether anything
had arrived or not. A `CommitSignal` is marked by the code that adds such rows, inside its
transaction, and fires when that transaction commits (never before: a waiter woken early
would find nothing and go back to sleep). Its `generation` counts the commits, so a waiter
compares numbers instead of querying.

Between the processes of the scale-out layout (`bellwether web`, workers, `commerce
serve`, on PostgreSQL) a marked transaction also sends `NOTIFY bellwether_signals` with
the signal's name, inside the transaction, so PostgreSQL delivers it exactly when the
transaction commits and drops it on rollback. A process that waits runs one
`CommitListener` (a dedicated connection that LISTENs) which fires the named signal there.
On SQLite nothing is sent: `bellwether up` is one process and the in-process signal is all.

A signal is a hint, never the only way: rows due later (a retry's backoff), a notification
lost while the listener reconnects (it fires every signal once it is back) and rows
written by a process that is not listening are found by each waiter's slow safety-net look.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Mapping

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

log = logging.getLogger("bellwether.signals")
_PENDING = "bellwether.signals.pending"
#: The PostgreSQL channel every signal travels on; the payload is "<origin> <name>".
CHANNEL = "bellwether_signals"
#: Every signal made in this process, by name, so a notification finds its signal.
SIGNALS: dict[str, CommitSignal] = {}
_ORIGIN: dict[str, str] = {}


def origin() -> str:
    """This process's name on the channel (a process skips its own notifications: its
    signal fired at commit already). New after a fork, so children are others."""
    pid = str(os.getpid())
    if _ORIGIN.get("pid") != pid:
        _ORIGIN.update(pid=pid, name=f"{pid}.{uuid.uuid4().hex[:8]}")
    return _ORIGIN["name"]


class CommitSignal:
    """Fires when a transaction that marked it commits; waiters read `generation`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._generation = 0
        self._changed = threading.Condition()
        SIGNALS[name] = self

    @property
    def generation(self) -> int:
        return self._generation

    def mark(self, session: Session) -> None:
        """Fire this signal when `session`'s transaction commits (dropped on rollback)."""
        session.info.setdefault(_PENDING, set()).add(self)

    def fire(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        """Block until the generation differs from `seen` or `timeout` seconds pass; the
        generation then."""
        with self._changed:
            self._changed.wait_for(lambda: self._generation != seen, timeout)
            return self._generation

    def __repr__(self) -> str:
        return f"CommitSignal({self.name!r}, generation={self._generation})"


@event.listens_for(Session, "before_commit")
def _notify_marked(session: Session) -> None:
    """On PostgreSQL, tell the other processes inside the transaction (sent on commit)."""
    marked = session.info.get(_PENDING)
    if not marked or session.get_bind().dialect.name != "postgresql":
        return
    connection = session.connection()
    for signal in sorted(marked, key=lambda s: s.name):
        connection.execute(text("SELECT pg_notify(:channel, :payload)"),
                           {"channel": CHANNEL, "payload": f"{origin()} {signal.name}"})


@event.listens_for(Session, "after_commit")
def _fire_marked(session: Session) -> None:
    for signal in session.info.pop(_PENDING, ()):
        signal.fire()


@event.listens_for(Session, "after_rollback")
def _drop_marked(session: Session) -> None:
    session.info.pop(_PENDING, None)


class Look:
    """When a polling job should look in the database again: at once after its signal
    fired or after a pass that found work, else only once `safety_s` passed (monotonic
    seconds). Read the signal's generation before looking, so a commit during the look
    makes the next pass look again."""

    def __init__(self, signal: CommitSignal, safety_s: float) -> None:
        self.signal, self.safety_s = signal, safety_s
        self._seen: int | None = None
        self._next_look = 0.0

    def due(self, now: float) -> bool:
        generation = self.signal.generation
        if generation == self._seen and now < self._next_look:
            return False
        self._seen, self._next_look = generation, now + self.safety_s
        return True

    def found_work(self) -> None:
        """The pass did something: more may be due soon, so look again next pass."""
        self._next_look = 0.0


class CommitListener:
    """LISTENs on PostgreSQL for the commits other processes signal and fires the named
    signals here; a thread with one dedicated connection.

    When the connection drops it reconnects (every `retry_s`), and once listening again
    fires every signal once: whatever was sent meanwhile is looked for.
    """

    def __init__(self, database_url: str, signals: Mapping[str, CommitSignal] | None = None,
                 retry_s: float = 1.0, wait_s: float = 0.5) -> None:
        url = make_url(database_url).set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self.signals = SIGNALS if signals is None else signals
        self.retry_s, self.wait_s = retry_s, wait_s
        self.listening = threading.Event()
        self.connections = 0  # times LISTEN was issued (1 + reconnects)
        self.received = 0  # notifications of other processes acted on
        self.backend_pid: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="commit-listener",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.wait_s + 10)

    def _deliver(self, payload: str) -> None:
        sender, _, name = payload.partition(" ")
        if sender == origin():
            return
        signal = self.signals.get(name)
        if signal is not None:
            signal.fire()
            self.received += 1

    def _listen_once(self) -> None:
        import psycopg

        with psycopg.connect(self._conninfo, autocommit=True) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self.backend_pid = conn.info.backend_pid
            if self.connections:  # anything sent while away: every waiter looks
                for signal in list(self.signals.values()):
                    signal.fire()
            self.connections += 1
            self.listening.set()
            while not self._stop.is_set():
                for notification in conn.notifies(timeout=self.wait_s):
                    self._deliver(notification.payload)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen_once()
            except Exception as exc:  # a dropped connection: the safety nets cover the gap
                self.listening.clear()
                log.warning("commit signals: listening on PostgreSQL failed (%s); retrying "
                            "in %.0f s", str(exc).splitlines()[0] if str(exc) else exc,
                            self.retry_s)
                self._stop.wait(self.retry_s)


def commit_listener(database_url: str) -> CommitListener | None:
    """A listener (not started) for this process's signals on PostgreSQL; None on SQLite,
    where one process shares its signals in memory."""
    if make_url(database_url).get_backend_name() != "postgresql":
        return None
    return CommitListener(database_url)
