"""A sliding-window rate limit kept in this process's memory (per web process).

Several web processes each count on their own, so the effective limit grows with their
number; that is enough to slow password guessing without a table written on every try.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import timedelta

from core.clock import Clock


class SlidingWindowLimiter:
    """At most `limit` attempts per `window` for each key (e.g. a client address).

    >>> from datetime import UTC, datetime
    >>> from core.clock import FixedClock
    >>> clock = FixedClock(datetime(2026, 10, 1, tzinfo=UTC))
    >>> limiter = SlidingWindowLimiter(1, timedelta(minutes=5), clock)
    >>> limiter.attempt("10.0.0.1") is None, limiter.attempt("10.0.0.1")
    (True, datetime.timedelta(seconds=300))
    """

    def __init__(self, limit: int, window: timedelta, clock: Clock, max_keys: int = 50_000,
                 ) -> None:
        self.limit, self.window, self.clock, self.max_keys = limit, window, clock, max_keys
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def attempt(self, key: str) -> timedelta | None:
        """Record an attempt; None when allowed, else how long until one is allowed again."""
        now = self.clock.monotonic()
        horizon = now - self.window.total_seconds()
        with self._lock:
            times = self._seen.setdefault(key, deque())
            while times and times[0] <= horizon:
                times.popleft()
            if len(times) >= self.limit:
                return timedelta(seconds=times[0] - horizon)
            times.append(now)
            if len(self._seen) > self.max_keys:
                self._forget_idle(horizon)
            return None

    def _forget_idle(self, horizon: float) -> None:
        for key in [k for k, times in self._seen.items() if not times or times[-1] <= horizon]:
            del self._seen[key]
