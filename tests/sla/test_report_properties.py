"""Invariants of the whole path, checks to lines, over generated months (spec §2-§5)."""

from __future__ import annotations

import random
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from sla.catalog import STANDARD
from sla.checkfile import read_checks
from sla.collect import MonthCollector
from sla.model import Check, MaintenanceWindow
from sla.period import Period, month_period
from sla.report import SlaReport, build_report, report_from_checks
from tests.sla.builders import at, check, check_line

# A short period keeps examples fast; the checks cross both of its edges.
PERIOD = Period("2026-10-01T00:00/20m", month_period("2026-10").first_minute, 20)
LOCATIONS = ("loc-a", "loc-b", "loc-c")
FAST = settings(max_examples=50, deadline=None)

# Checks from 3 minutes before the period to 10 after it, to the second: edges and ties.
checks_strategy = st.lists(
    st.builds(lambda location, second, ok, component: check(
        location, at(0, second), ok, component=component),
        st.sampled_from(LOCATIONS), st.integers(-180, 1800), st.booleans(),
        st.sampled_from(["orders", "import"])),
    max_size=120)
windows_strategy = st.lists(
    st.builds(lambda start, length: MaintenanceWindow(at(0, start), at(0, start + length),
                                                      frozenset({"orders"})),
              st.integers(-120, 1800), st.integers(1, 900)),
    max_size=2)
confirmations_strategy = st.integers(1, 3)


def downtime(report: SlaReport) -> dict[str, int]:
    return {line.component: line.downtime_minutes for line in report.lines}


@FAST
@given(checks_strategy, windows_strategy, confirmations_strategy)
def test_downtime_never_exceeds_the_eligible_minutes(
        checks: list[Check], windows: list[MaintenanceWindow], confirmations: int) -> None:
    for line in report_from_checks(checks, PERIOD, STANDARD, windows, confirmations).lines:
        assert 0 <= line.downtime_minutes <= line.eligible_minutes
        assert line.downtime_minutes + line.no_data_minutes <= line.eligible_minutes
        assert line.eligible_minutes + line.maintenance_minutes == line.period_minutes


@FAST
@given(checks_strategy, st.lists(st.tuples(st.sampled_from(LOCATIONS), st.integers(-180, 1800)),
                                 max_size=40), confirmations_strategy)
def test_adding_passing_checks_never_adds_downtime(
        checks: list[Check], passes: list[tuple[str, int]], confirmations: int) -> None:
    before = downtime(report_from_checks(checks, PERIOD, STANDARD, (), confirmations))
    more = checks + [check(location, at(0, second), True) for location, second in passes]
    after = downtime(report_from_checks(more, PERIOD, STANDARD, (), confirmations))
    for component, minutes in after.items():
        assert minutes <= before.get(component, 0)


@FAST
@given(st.sampled_from(LOCATIONS), st.lists(st.booleans(), min_size=30, max_size=30),
       st.lists(st.integers(0, 59), min_size=90, max_size=90), confirmations_strategy)
def test_one_location_of_three_alone_never_causes_downtime(
        failing: str, oks: list[bool], seconds: list[int], confirmations: int) -> None:
    checks = []
    for minute in range(30):
        for index, location in enumerate(LOCATIONS):
            ok = oks[minute] if location == failing else True
            checks.append(check(location, at(minute, seconds[minute * 3 + index]), ok))
    [line] = report_from_checks(checks, PERIOD, STANDARD, (), confirmations).lines
    assert line.downtime_minutes == 0


@FAST
@given(checks_strategy, confirmations_strategy)
def test_maintenance_over_the_whole_month_gives_100_percent(
        checks: list[Check], confirmations: int) -> None:
    everything = [MaintenanceWindow(PERIOD.start, PERIOD.end)]
    for line in report_from_checks(checks, PERIOD, STANDARD, everything, confirmations).lines:
        assert (line.uptime_pct, line.met, line.downtime_minutes) == (Decimal(100), True, 0)
        assert line.maintenance_minutes == PERIOD.minutes == line.period_minutes


def report_of_lines(lines: list[bytes], confirmations: int) -> SlaReport:
    collector = MonthCollector(PERIOD, confirmations)
    read_checks(lines, "checks.jsonl", collector)
    return build_report(collector, STANDARD, ())


@FAST
@given(checks_strategy, st.integers(0, 120), st.randoms(use_true_random=False),
       confirmations_strategy)
def test_split_and_shuffled_files_give_the_same_result(
        checks: list[Check], cut: int, rng: random.Random, confirmations: int) -> None:
    lines = [check_line(item) for item in checks]
    whole = report_of_lines(lines, confirmations)
    assert whole == report_from_checks(checks, PERIOD, STANDARD, (), confirmations)
    assert report_of_lines(lines[cut:] + lines[:cut], confirmations) == whole
    rng.shuffle(lines)
    assert report_of_lines(lines, confirmations) == whole
