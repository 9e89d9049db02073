from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from sla.catalog import STANDARD
from sla.model import Check, InvalidCheck, InvalidPlan, MinuteCounts, Plan
from sla.report import line_from_counts


def test_a_check_needs_a_time_zone() -> None:
    with pytest.raises(InvalidCheck, match="no time zone"):
        Check("orders", "eu", "loc-a", datetime(2026, 10, 1), ok=True)  # noqa: DTZ001


@pytest.mark.parametrize("target", ["100", "0", "-1", "100.5"])
def test_a_plan_must_leave_an_error_budget(target: str) -> None:
    with pytest.raises(InvalidPlan, match="between 0 and 100"):
        Plan("odd", {1: Decimal(target)}, STANDARD.recovery)


def test_eligible_minutes_never_go_below_zero() -> None:
    assert MinuteCounts(period=43_200, maintenance=44_640, downtime=0, no_data=0).eligible == 0


def test_a_line_gives_back_the_minutes_it_was_computed_from() -> None:
    counts = MinuteCounts(period=1440, maintenance=60, downtime=5, no_data=7, single_location=3)
    assert line_from_counts("orders", "eu", 1, counts, Decimal("99.9")).minute_counts() == counts
