"""Minute rollups from raw checks: the spec's verdicts, counts and latency figures."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from probes.rollup import RawCheck, percentile, roll_up
from sla.model import MinuteVerdict

MINUTE = 60_000_000


def check(minute: int, second: int, ok: bool, latency: float = 50.0) -> RawCheck:
    return RawCheck(minute * MINUTE + second * 1_000_000, ok, False, latency)


def test_a_confirmed_run_crossing_a_minute_marks_both_minutes_down() -> None:
    series = {loc: [check(10, 0, True), check(10, 30, False), check(11, 0, False),
                    check(11, 30, True)] for loc in ("loc-a", "loc-b")}
    per_location, combined = roll_up(series, range(10, 12), confirmations=2)
    assert [c.verdict for c in combined] == [MinuteVerdict.DOWN, MinuteVerdict.DOWN]
    assert [(c.locations, c.locations_down, c.failures) for c in combined] == [(2, 2, 2),
                                                                              (2, 2, 2)]
    assert len(per_location) == 4


def test_context_outside_the_minutes_confirms_a_run_but_is_not_rolled_up() -> None:
    series = {"loc-a": [check(9, 30, False), check(10, 0, False), check(10, 30, True)]}
    _per_location, combined = roll_up(series, range(10, 11), confirmations=2)
    assert [c.minute for c in combined] == [10]
    assert combined[0].verdict is MinuteVerdict.DOWN
    assert combined[0].checks == 2


def test_a_single_failure_is_a_blip() -> None:
    series = {"loc-a": [check(10, 0, True), check(10, 30, False), check(11, 0, True)]}
    _, combined = roll_up(series, range(10, 12), confirmations=2)
    assert [c.verdict for c in combined] == [MinuteVerdict.UP, MinuteVerdict.UP]
    assert combined[0].failures == 1


def test_latency_figures_are_nearest_rank() -> None:
    series = {"loc-a": [check(10, s, True, latency=float(s)) for s in range(1, 21)]}
    _, combined = roll_up(series, range(10, 11), confirmations=2)
    assert (combined[0].latency.p50_ms, combined[0].latency.p95_ms,
            combined[0].latency.max_ms) == (10.0, 19.0, 20.0)
    assert percentile([], 0.5) == 0.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["loc-a", "loc-b", "loc-c"]),
                          st.integers(0, 5 * 60 - 1), st.booleans()), max_size=80))
def test_rolling_up_in_pieces_equals_rolling_up_at_once(rows: list[tuple[str, int, bool]]) -> None:
    series: dict[str, list[RawCheck]] = {}
    for location, second, ok in rows:
        series.setdefault(location, []).append(RawCheck(second * 1_000_000, ok, False, 1.0))
    _, whole = roll_up(series, range(5), confirmations=2)
    pieces = [row for minute in range(5) for row in roll_up(series, {minute}, 2)[1]]
    assert pieces == whole
    assert sum(c.checks for c in whole) == len(rows)
