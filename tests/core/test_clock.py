from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.clock import SystemClock, utc
from tests.support.clock import ManualClock


def test_a_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    clock.advance(timedelta(seconds=90))
    clock.sleep(30)
    assert clock.now() == datetime(2026, 1, 1, 0, 2, tzinfo=UTC)
    assert clock.monotonic() == 120.0


def test_the_system_clock_is_aware_utc() -> None:
    assert SystemClock().now().tzinfo is UTC


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        utc(datetime(2026, 1, 1))  # noqa: DTZ001 (the point of the test)
    with pytest.raises(ValueError, match="aware"):
        ManualClock(datetime(2026, 1, 1))  # noqa: DTZ001
