"""The only module that reads the wall clock; everything else is handed a Clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """What edges (jobs, runner, dispatcher, views) ask for the time."""

    def now(self) -> datetime:
        """The current time, timezone-aware in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards, for measuring durations."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait; a test's manual clock returns at once."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class FixedClock:
    """The time of one change, for code that asks a Clock while writing it (links signed
    in the change's transaction carry the change's time, not a second reading)."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._at

    def monotonic(self) -> float:
        return 0.0

    def sleep(self, seconds: float) -> None:
        raise RuntimeError("a FixedClock does not move")


def utc(value: datetime) -> datetime:
    """Normalise an aware datetime to UTC; naive values are refused, never guessed."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()} (times are UTC and aware)")
    return value.astimezone(UTC)
