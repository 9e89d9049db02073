from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from sla.catalog import PREMIUM, STANDARD
from sla.model import Check, MaintenanceWindow, MinuteCounts, MinuteVerdict, PeriodBasis
from sla.period import Period, minute_of, month_period
from sla.report import line_from_counts, month_line, report_from_checks, sum_minutes
from tests.sla.builders import at, check, every_30s

OCTOBER = month_period("2026-10")
SEPTEMBER = month_period("2026-09")


def healthy(first_minute: int, end_minute: int, *locations: str) -> list[Check]:
    return [c for location in locations for c in every_30s(location, first_minute, end_minute,
                                                           ok=True)]


def test_two_of_three_locations_failing_is_downtime() -> None:
    checks = (healthy(0, 60, "loc-c") + healthy(0, 10, "loc-a", "loc-b")
              + every_30s("loc-a", 10, 35, ok=False) + every_30s("loc-b", 10, 35, ok=False)
              + healthy(35, 60, "loc-a", "loc-b"))
    [line] = report_from_checks(checks, OCTOBER, STANDARD).lines
    assert (line.downtime_minutes, line.no_data_minutes) == (25, 44_640 - 60)
    assert line.single_location_minutes == 0
    assert line.met


def test_a_failure_run_crossing_the_month_start_is_judged_whole() -> None:
    # One failed check just inside October confirms with the one before midnight.
    checks = [check(location, at(-1, 30), False) for location in ("loc-a", "loc-b")]
    checks += [check(location, at(0, 0), False) for location in ("loc-a", "loc-b")]
    checks += [check(location, at(0, 30), True) for location in ("loc-a", "loc-b")]
    [line] = report_from_checks(checks, OCTOBER, STANDARD).lines
    assert line.downtime_minutes == 1


def test_a_failure_run_crossing_the_month_end_is_judged_whole() -> None:
    last = OCTOBER.minutes - 1
    checks = [check(location, at(last, 30), False) for location in ("loc-a", "loc-b")]
    checks += [check(location, at(last + 1, 0), False) for location in ("loc-a", "loc-b")]
    [line] = report_from_checks(checks, OCTOBER, STANDARD).lines
    assert line.downtime_minutes == 1
    [after] = report_from_checks(checks, month_period("2026-11"), STANDARD).lines
    assert after.downtime_minutes == 1


def test_a_lone_failure_at_the_month_edge_is_a_blip() -> None:
    checks = [check(location, at(-1, 30), True) for location in ("loc-a", "loc-b")]
    checks += [check(location, at(0, 0), False) for location in ("loc-a", "loc-b")]
    checks += [check(location, at(0, 30), True) for location in ("loc-a", "loc-b")]
    [line] = report_from_checks(checks, OCTOBER, STANDARD).lines
    assert line.downtime_minutes == 0


def test_checks_outside_the_month_make_no_line() -> None:
    checks = [*every_30s("loc-a", -20, -10, ok=False),
              check("loc-a", at(0), True, component="carts")]
    report = report_from_checks(checks, OCTOBER, STANDARD)
    assert [line.component for line in report.lines] == ["carts"]


def test_a_component_outside_the_catalogue_is_tier_1() -> None:
    [line] = report_from_checks([check("loc-a", at(0), True, component="inventory")],
                                OCTOBER, PREMIUM).lines
    assert (line.tier, line.target_pct) == (1, Decimal("99.99"))


def test_a_tier_2_component_gets_the_tier_2_target() -> None:
    [line] = report_from_checks([check("loc-a", at(0), True, component="import")],
                                OCTOBER, STANDARD).lines
    assert (line.tier, line.target_pct) == (2, Decimal("99.5"))


def test_a_minute_where_only_some_locations_report_follows_those() -> None:
    # Minutes 0-9: only loc-a reports, failing: the one location with data is a majority.
    # Minutes 10-19: loc-a fails, loc-b passes: 1 of 2 is no majority.
    checks = (every_30s("loc-a", 0, 20, ok=False) + healthy(10, 20, "loc-b"))
    [line] = report_from_checks(checks, OCTOBER, STANDARD).lines
    assert line.downtime_minutes == 10
    assert line.single_location_minutes == 10


def test_maintenance_is_excluded_whatever_the_checks_say() -> None:
    window = MaintenanceWindow(at(0), at(30), frozenset({"orders"}))
    other = MaintenanceWindow(at(0), at(60), frozenset({"carts"}))
    checks = every_30s("loc-a", 0, 60, ok=False)
    [line] = report_from_checks(checks, OCTOBER, STANDARD, [window, other]).lines
    assert (line.maintenance_minutes, line.downtime_minutes) == (30, 30)
    assert line.eligible_minutes == 44_640 - 30


def test_the_fixed_30_day_basis_divides_by_43200() -> None:
    fixed = replace(STANDARD, period_basis=PeriodBasis.FIXED_30D)
    checks = every_30s("loc-a", 0, 25, ok=False)
    report = report_from_checks(checks, OCTOBER, fixed)
    [line] = report.lines
    assert (report.period_minutes, line.period_minutes, line.eligible_minutes) == (
        43_200, 43_200, 43_200)
    assert line.uptime_pct == Decimal("99.9421")
    assert line.budget_minutes == Decimal("43.2")


def test_met_is_decided_on_the_exact_uptime_not_the_rounded_one() -> None:
    line = line_from_counts("orders", "eu", 1, MinuteCounts(9999, 0, 1, 0), Decimal("99.99"))
    assert line.uptime_pct == Decimal("99.9900")
    assert not line.met
    assert line.credit_pct == 10


def test_a_missed_premium_month_earns_its_credit() -> None:
    line = line_from_counts("carts", "us", 1, MinuteCounts(40_320, 0, 540, 0),
                            Decimal("99.99"))
    assert (line.uptime_pct, line.met, line.credit_pct) == (Decimal("98.6607"), False, 25)
    assert (line.budget_minutes, line.budget_remaining_minutes) == (Decimal("4.032"),
                                                                    Decimal("-535.968"))


def test_the_database_path_feeds_minute_verdicts_directly() -> None:
    first = SEPTEMBER.first_minute
    verdicts = {first + m: MinuteVerdict.DOWN for m in range(25)}
    line = month_line("orders", "europe-west1.gcp", SEPTEMBER, verdicts, frozenset(), STANDARD)
    assert (line.downtime_minutes, line.uptime_pct, line.met) == (25, Decimal("99.9421"), True)
    assert (line.budget_minutes, line.budget_remaining_minutes) == (Decimal("43.2"),
                                                                    Decimal("18.2"))
    assert line.single_location_minutes is None


def test_coverage_warns_under_99_percent() -> None:
    day = Period("a day", minute_of(at(0)), 1440)
    full = month_line("orders", "eu", day, dict.fromkeys(range(day.first_minute,
                                                               day.end_minute),
                                                         MinuteVerdict.UP), set(), STANDARD)
    assert (full.coverage_pct, full.coverage_warning) == (Decimal(100), False)
    gappy = month_line("orders", "eu", day, {}, set(), STANDARD)
    assert (gappy.coverage_pct, gappy.coverage_warning) == (Decimal(0), True)


def test_longer_periods_sum_minutes_before_dividing() -> None:
    good = line_from_counts("orders", "eu", 1, MinuteCounts(43_200, 0, 0, 0), Decimal("99.9"))
    bad = line_from_counts("orders", "eu", 1, MinuteCounts(1_440, 0, 144, 0), Decimal("99.9"))
    total = line_from_counts("orders", "eu", 1, sum_minutes([good, bad]), Decimal("99.9"))
    assert total.downtime_minutes == 144
    assert total.uptime_pct == Decimal("99.6774")  # not the 94.99 % an average would give
