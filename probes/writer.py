"""Writes finished checks to the database in batches, keeping them while it cannot.

A check is never dropped because the database is briefly away (PostgreSQL restarting,
SQLite busy): the batch stays in memory and is written at the next try. Stopping flushes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from sqlalchemy.exc import SQLAlchemyError

from core.clock import Clock
from core.db import SessionFactory, is_lock_timeout, session_scope
from probes import store
from probes.checks import CheckResult

log = logging.getLogger("bellwether.probes")


class DatabaseWriter:
    """A `CheckSink` that stores checks from a background thread every `period` seconds."""

    def __init__(self, factory: SessionFactory, clock: Clock, period: float = 0.25,
                 on_saved: Callable[[int], None] | None = None) -> None:
        self.factory, self.clock, self.period = factory, clock, period
        self.on_saved = on_saved
        self._pending: list[CheckResult] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="check-writer", daemon=True)
        self.failures = 0

    def put(self, checks: Sequence[CheckResult]) -> None:
        with self._lock:
            self._pending.extend(checks)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def start(self) -> None:
        self._thread.start()

    def flush(self) -> int:
        """Write what is pending; on a database error keep it for the next try."""
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return 0
        try:
            with session_scope(self.factory) as session:
                saved = store.save_checks(session, batch, self.clock.now())
        except SQLAlchemyError as exc:
            self.failures += 1
            reason = ("the write lock stayed busy" if is_lock_timeout(exc)
                      else str(exc).splitlines()[0])
            log.warning("could not store %d checks (kept for the next try): %s", len(batch),
                        reason)
            with self._lock:
                self._pending[:0] = batch
            return 0
        if self.on_saved is not None:
            self.on_saved(saved)
        return saved

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            self.flush()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        for _ in range(3):
            self.flush()
            if not self.pending:
                return
