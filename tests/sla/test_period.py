from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from sla.model import InvalidPeriod, PeriodBasis
from sla.period import Period, minute_of, minute_start, month_period, parse_instant


@pytest.mark.parametrize(
    ("month", "minutes"),
    [("2026-10", 44_640), ("2026-09", 43_200), ("2026-02", 40_320), ("2028-02", 41_760),
     ("2026-12", 44_640)],
)
def test_a_month_has_its_calendar_minutes(month: str, minutes: int) -> None:
    assert month_period(month).minutes == minutes


def test_a_month_runs_from_its_first_to_the_next_months_first_minute() -> None:
    december = month_period("2026-12")
    assert december.start == datetime(2026, 12, 1, tzinfo=UTC)
    assert december.end == datetime(2027, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1", "26-10", "2026-10-01",
                                  "October", "", "0000-01", "9999-12",
                                  "\uff12\uff10\uff12\uff16-10"])  # full-width digits
def test_it_refuses_a_month_that_is_not_yyyy_mm(text: str) -> None:
    with pytest.raises(InvalidPeriod, match="month"):
        month_period(text)


def test_the_fixed_basis_has_43200_minutes_whatever_the_month() -> None:
    assert month_period("2026-10").basis_minutes(PeriodBasis.FIXED_30D) == 43_200
    assert month_period("2026-02").basis_minutes(PeriodBasis.FIXED_30D) == 43_200
    assert month_period("2026-02").basis_minutes(PeriodBasis.CALENDAR) == 40_320


def test_a_check_belongs_to_the_minute_it_was_sent_in() -> None:
    sent = datetime(2026, 10, 3, 12, 0, 59, 999_999, tzinfo=UTC)
    assert minute_start(minute_of(sent)) == datetime(2026, 10, 3, 12, 0, tzinfo=UTC)


def test_a_minute_is_the_same_in_any_offset() -> None:
    local = datetime(2026, 10, 3, 14, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    assert minute_of(local) == minute_of(datetime(2026, 10, 3, 12, 0, tzinfo=UTC))


def test_a_period_knows_its_minutes() -> None:
    period = Period("a day", 100, 1440)
    assert 100 in period
    assert 1539 in period
    assert 1540 not in period
    assert "100" not in period


def test_a_period_needs_minutes() -> None:
    with pytest.raises(InvalidPeriod):
        Period("nothing", 0, 0)


@pytest.mark.parametrize("text", ["2026-10-03T12:00:30Z", "2026-10-03T14:00:30+02:00",
                                  "2026-10-03T12:00:30.5+00:00"])
def test_it_reads_times_with_a_zone(text: str) -> None:
    assert parse_instant(text) is not None


@pytest.mark.parametrize("text", ["2026-10-03T12:00:30", "2026-10-03", "yesterday", ""])
def test_it_refuses_times_without_a_zone(text: str) -> None:
    assert parse_instant(text) is None
