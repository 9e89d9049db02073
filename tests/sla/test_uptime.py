from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from sla.model import MinuteCounts, MinuteVerdict, PeriodBasis
from sla.period import month_period
from sla.uptime import count_minutes, coverage_pct, rounded_pct, target_met, uptime_pct

SEPTEMBER = month_period("2026-09")
FIRST = SEPTEMBER.first_minute


def test_it_counts_each_kind_of_minute() -> None:
    verdicts = {FIRST: MinuteVerdict.DOWN, FIRST + 1: MinuteVerdict.UP,
                FIRST + 2: MinuteVerdict.DOWN, FIRST + 3: MinuteVerdict.NO_DATA}
    counts = count_minutes(SEPTEMBER, verdicts, maintenance={FIRST + 2, FIRST + 4})
    assert counts == MinuteCounts(period=43_200, maintenance=2, downtime=1,
                                  no_data=43_200 - 2 - 2, single_location=None)
    assert counts.eligible == 43_198


def test_it_ignores_minutes_outside_the_period() -> None:
    verdicts = {FIRST - 1: MinuteVerdict.DOWN, SEPTEMBER.end_minute: MinuteVerdict.DOWN}
    counts = count_minutes(SEPTEMBER, verdicts, maintenance={FIRST - 5})
    assert (counts.downtime, counts.maintenance, counts.no_data) == (0, 0, 43_200)


def test_a_minute_marked_maintenance_counts_as_maintenance() -> None:
    counts = count_minutes(SEPTEMBER, {FIRST: MinuteVerdict.MAINTENANCE}, maintenance=set())
    assert counts.maintenance == 1


def test_it_counts_minutes_only_one_location_saw_outside_maintenance() -> None:
    counts = count_minutes(SEPTEMBER, {FIRST: MinuteVerdict.UP, FIRST + 1: MinuteVerdict.UP},
                           maintenance={FIRST + 1},
                           locations_by_minute={FIRST: 1, FIRST + 1: 1, FIRST + 2: 3})
    assert counts.single_location == 1


def test_the_fixed_basis_changes_only_the_period() -> None:
    counts = count_minutes(SEPTEMBER, {}, set(), basis=PeriodBasis.FIXED_30D)
    assert (counts.period, counts.no_data) == (43_200, 43_200)
    february = month_period("2026-02")
    counts = count_minutes(february, {}, set(), basis=PeriodBasis.FIXED_30D)
    assert (counts.period, counts.eligible, counts.no_data) == (43_200, 43_200, 40_320)


def test_uptime_is_exact() -> None:
    counts = MinuteCounts(period=43_200, maintenance=0, downtime=25, no_data=0)
    assert uptime_pct(counts) == Fraction(100 * 43_175, 43_200)


def test_uptime_is_100_with_nothing_eligible() -> None:
    assert uptime_pct(MinuteCounts(period=60, maintenance=60, downtime=0, no_data=0)) == 100


def test_uptime_stops_at_zero_when_a_fixed_month_holds_more_downtime() -> None:
    counts = MinuteCounts(period=43_200, maintenance=0, downtime=44_640, no_data=0)
    assert uptime_pct(counts) == 0


def test_coverage_counts_monitoring_gaps() -> None:
    counts = MinuteCounts(period=1000, maintenance=0, downtime=0, no_data=20)
    assert coverage_pct(counts) == 98
    empty = MinuteCounts(period=10, maintenance=10, downtime=0, no_data=0)
    assert coverage_pct(empty) == 100


@pytest.mark.parametrize(
    ("value", "reported"),
    [(Fraction(100 * 43_175, 43_200), "99.9421"), (Fraction(100), "100.0000"),
     (Fraction(9765625, 100000), "97.6562"),  # a tie: half to even
     (Fraction(9921875, 100000), "99.2188"),  # a tie: half to even, upwards
     (Fraction(9_999_985, 100_000), "99.9998"),  # a tie: the even neighbour is below
     (Fraction(9_999_995, 100_000), "100.0000"),  # a tie: the even neighbour is 100
     (Fraction(999_999_499, 10_000_000), "99.9999")],
)
def test_it_reports_four_decimals_half_to_even(value: Fraction, reported: str) -> None:
    assert rounded_pct(value) == Decimal(reported)
    assert str(rounded_pct(value)) == reported


def test_the_target_is_compared_exactly() -> None:
    assert target_met(Fraction(999, 10), Decimal("99.9"))
    assert not target_met(Fraction(999, 10) - Fraction(1, 10**30), Decimal("99.9"))


def test_longer_periods_add_minutes() -> None:
    day = MinuteCounts(period=1440, maintenance=0, downtime=144, no_data=0, single_location=2)
    month = MinuteCounts(period=43_200, maintenance=0, downtime=0, no_data=0, single_location=0)
    total = day + month
    assert uptime_pct(total) == Fraction(100 * (44_640 - 144), 44_640)
    assert total.single_location == 2
    assert (day + MinuteCounts(1, 0, 0, 0)).single_location is None
