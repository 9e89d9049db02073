"""A clock that moves only when a test tells it to: the test double of `core.clock.Clock`
(kept out of the production package, which reads time from `SystemClock` or `FixedClock`)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class ManualClock:
    """A clock that moves only when a test tells it to.

    >>> clock = ManualClock(datetime(2026, 10, 1, tzinfo=UTC))
    >>> clock.advance(timedelta(minutes=1))
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._mono = 0.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def sleep(self, seconds: float) -> None:
        self.advance(timedelta(seconds=seconds))

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward."""
        with self._lock:
            self._now += delta
            self._mono += delta.total_seconds()
