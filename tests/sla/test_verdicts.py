from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sla.model import MinuteVerdict
from sla.period import micros_of, month_period
from sla.verdicts import (
    DOWN_STATE,
    NO_DATA_STATE,
    UP_STATE,
    RunTracker,
    check_code,
    confirmed_failure_flags,
    location_minute_states,
    location_minute_status,
)
from tests.sla.builders import at

OCTOBER = month_period("2026-10")


def codes(*checks: tuple[int, int, bool]) -> list[int]:
    """Sorted check codes from (minute, second, ok) triples of October."""
    return sorted(check_code(micros_of(at(minute, second)), ok) for minute, second, ok in checks)


def test_it_confirms_after_two_failures() -> None:
    assert confirmed_failure_flags([True, False, False, True], 2) == [False, True, True, False]


def test_it_never_confirms_a_single_failure_between_passes() -> None:
    assert confirmed_failure_flags([True, False, True, False, True], 2) == [False] * 5


def test_it_needs_as_many_failures_as_confirmations() -> None:
    oks = [False, False, True, False, False, False]
    assert confirmed_failure_flags(oks, 3) == [False, False, False, True, True, True]


def test_it_confirms_a_run_still_open_at_the_end_of_the_data() -> None:
    assert confirmed_failure_flags([True, False, False], 2) == [False, True, True]


def test_it_confirms_every_failure_with_one_confirmation() -> None:
    assert confirmed_failure_flags([False, True, False], 1) == [True, False, True]


def test_it_orders_failures_first_at_the_same_time() -> None:
    assert sorted([check_code(10, True), check_code(10, False), check_code(9, True)]) == [
        check_code(9, True), check_code(10, False), check_code(10, True)]


def test_the_tracker_reports_the_checks_a_run_confirms() -> None:
    tracker = RunTracker(confirmations=3)
    assert [tracker.observe(ok) for ok in (False, False, False, False, True, False)] == [
        0, 0, 3, 1, 0, 0]
    assert not tracker.is_down


def test_the_tracker_says_down_while_a_confirmed_run_lasts() -> None:
    tracker = RunTracker(confirmations=2)
    tracker.observe(False)
    assert not tracker.is_down
    tracker.observe(False)
    assert tracker.is_down


def test_the_tracker_needs_at_least_one_confirmation() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RunTracker(confirmations=0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.booleans(), max_size=40), st.integers(min_value=1, max_value=5))
def test_the_tracker_confirms_what_the_flags_confirm(oks: list[bool], confirmations: int) -> None:
    tracker = RunTracker(confirmations)
    assert sum(tracker.observe(ok) for ok in oks) == sum(
        confirmed_failure_flags(oks, confirmations))


def test_a_minute_with_a_confirmed_check_is_down() -> None:
    assert location_minute_status([False, True]) is MinuteVerdict.DOWN
    assert location_minute_status([False, False]) is MinuteVerdict.UP
    assert location_minute_status([]) is MinuteVerdict.NO_DATA


def test_it_marks_each_minute_of_a_location() -> None:
    states = location_minute_states(
        codes((0, 0, True), (1, 0, False), (1, 30, False), (2, 0, True), (3, 30, False)),
        2, OCTOBER)
    assert list(states[:5]) == [UP_STATE, DOWN_STATE, UP_STATE, UP_STATE, NO_DATA_STATE]
    assert len(states) == OCTOBER.minutes


def test_a_minute_is_down_when_one_of_its_checks_is_in_a_confirmed_run() -> None:
    states = location_minute_states(codes((0, 0, True), (0, 30, False), (1, 0, False)),
                                    2, OCTOBER)
    assert list(states[:2]) == [DOWN_STATE, DOWN_STATE]


def test_checks_outside_the_period_confirm_runs_but_mark_no_minute() -> None:
    states = location_minute_states(codes((-1, 30, False), (0, 0, False), (0, 30, True)),
                                    2, OCTOBER)
    assert states[0] == DOWN_STATE
    assert set(states[1:]) == {NO_DATA_STATE}
