"""In-process wake-ups on commit.

Work that waits for new rows (the outbox's page and notice lanes, the commerce worker's
messages and imports) used to poll the database several times a second whether anything
had arrived or not. A `CommitSignal` is marked by the code that adds such rows, inside its
transaction, and fires when that transaction commits (never before: a waiter woken early
would find nothing and go back to sleep). Its `generation` counts the commits, so a waiter
compares numbers instead of querying.

A signal is a hint, never the only way: rows written by another process (the scale-out
layout) or due later (a retry's backoff) are found by each waiter's slow safety-net look.
"""

from __future__ import annotations

import threading

from sqlalchemy import event
from sqlalchemy.orm import Session

_PENDING = "bellwether.signals.pending"


class CommitSignal:
    """Fires when a transaction that marked it commits; waiters read `generation`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._generation = 0
        self._changed = threading.Condition()

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
