from __future__ import annotations

import pytest

from sla.collect import MonthCollector
from sla.period import MICROS_PER_MINUTE, micros_of, month_period
from sla.verdicts import check_code
from tests.sla.builders import at

OCTOBER = month_period("2026-10")
KEY = ("orders", "eu", "loc-a")
START = OCTOBER.first_minute * MICROS_PER_MINUTE
END = OCTOBER.end_minute * MICROS_PER_MINUTE


def test_it_returns_each_series_in_time_order_failures_first() -> None:
    collector = MonthCollector(OCTOBER, confirmations=2)
    for micros, ok in [(START + 20, True), (START + 10, True), (START + 10, False)]:
        collector.add(KEY, micros, ok)
    assert list(collector.series()) == [(KEY, [check_code(START + 10, False),
                                               check_code(START + 10, True),
                                               check_code(START + 20, True)])]


def test_it_keeps_only_what_can_confirm_a_run_across_the_edges() -> None:
    collector = MonthCollector(OCTOBER, confirmations=3)
    for offset in range(1, 6):
        collector.add(KEY, START - offset, ok=False)
        collector.add(KEY, END + offset, ok=False)
    collector.add(KEY, START, ok=True)
    [(_, codes)] = collector.series()
    assert codes == [check_code(START - 2, False), check_code(START - 1, False),
                     check_code(START, True),
                     check_code(END + 1, False), check_code(END + 2, False)]


def test_it_keeps_no_edge_with_one_confirmation() -> None:
    collector = MonthCollector(OCTOBER, confirmations=1)
    collector.add(KEY, START - 1, ok=False)
    collector.add(KEY, START, ok=False)
    assert [codes for _, codes in collector.series()] == [[check_code(START, False)]]


def test_a_series_with_no_check_in_the_month_is_left_out() -> None:
    collector = MonthCollector(OCTOBER, confirmations=2)
    collector.add(KEY, START - 1, ok=False)
    collector.add(("orders", "eu", "loc-b"), END, ok=False)
    assert list(collector.series()) == []


def test_it_sorts_series_by_component_region_and_location() -> None:
    collector = MonthCollector(OCTOBER, confirmations=2)
    for key in [("search", "eu", "loc-a"), ("orders", "us", "loc-b"), ("orders", "eu", "loc-c"),
                ("orders", "us", "loc-a")]:
        collector.add(key, micros_of(at(0)), ok=True)
    assert [key for key, _ in collector.series()] == [
        ("orders", "eu", "loc-c"), ("orders", "us", "loc-a"), ("orders", "us", "loc-b"),
        ("search", "eu", "loc-a")]


def test_it_needs_at_least_one_confirmation() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        MonthCollector(OCTOBER, confirmations=0)
