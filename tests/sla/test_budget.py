from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from sla.budget import (
    ALERT_RULES,
    AlertLevel,
    budget_minutes,
    burn_alert,
    burn_rate,
    window_burn_rate,
)
from sla.model import MinuteVerdict
from sla.period import minute_of
from tests.sla.builders import at

STANDARD_TIER_1 = Decimal("99.9")
NOW = at(10 * 24 * 60)  # 2026-10-11T00:00Z
NOW_MINUTE = minute_of(NOW)


def down_minutes_ago(*ago: int) -> dict[int, MinuteVerdict]:
    """Down minutes counted back from NOW (1 = the last complete minute); the rest no_data."""
    return {NOW_MINUTE - minutes: MinuteVerdict.DOWN for minutes in ago}


@pytest.mark.parametrize(
    ("eligible", "target", "budget"),
    [(43_200, "99.9", "43.2"), (44_580, "99.9", "44.58"), (43_080, "99.5", "215.4"),
     (40_320, "99.99", "4.032"), (0, "99.9", "0")],
)
def test_the_budget_is_the_eligible_minutes_times_one_minus_the_target(
        eligible: int, target: str, budget: str) -> None:
    assert budget_minutes(eligible, Decimal(target)) == Decimal(budget)


def test_the_remaining_budget_may_go_negative() -> None:
    assert budget_minutes(40_320, Decimal("99.99")) - 540 == Decimal("-535.968")


def test_the_burn_rate_compares_the_downtime_share_with_the_budget() -> None:
    assert burn_rate(1, 1000, STANDARD_TIER_1) == 1
    assert burn_rate(0, 1000, STANDARD_TIER_1) == 0
    assert burn_rate(5, 0, STANDARD_TIER_1) == 0


def test_the_rules_are_the_specs() -> None:
    assert [(r.level, r.threshold, r.long_window, r.short_window) for r in ALERT_RULES] == [
        (AlertLevel.PAGE, Fraction("14.4"), timedelta(hours=1), timedelta(minutes=5)),
        (AlertLevel.PAGE, Fraction(6), timedelta(hours=6), timedelta(minutes=30)),
        (AlertLevel.TICKET, Fraction(1), timedelta(days=3), timedelta(hours=6)),
    ]


def test_it_pages_on_a_fast_burn_over_the_hour_and_the_last_five_minutes() -> None:
    # 1 minute of 60 down burns at 16.7 (≥ 14.4), and it is within the last 5 minutes.
    assert burn_alert(down_minutes_ago(1), NOW, STANDARD_TIER_1) is AlertLevel.PAGE


def test_it_pages_on_a_steady_burn_over_six_hours_and_half_an_hour() -> None:
    # The last 5 minutes are clean, so the first rule is off; 3 of 360 burns at 8.3 (≥ 6).
    verdicts = down_minutes_ago(10, 100, 200)
    assert window_burn_rate(verdicts, NOW, timedelta(minutes=5), STANDARD_TIER_1) == 0
    assert burn_alert(verdicts, NOW, STANDARD_TIER_1) is AlertLevel.PAGE


def test_it_stops_paging_soon_after_recovery() -> None:
    # Five minutes down, over half an hour ago: no short window burns, the long ones still do.
    verdicts = down_minutes_ago(31, 32, 33, 34, 35)
    assert window_burn_rate(verdicts, NOW, timedelta(hours=6), STANDARD_TIER_1) > 6
    assert burn_alert(verdicts, NOW, STANDARD_TIER_1) is AlertLevel.TICKET


def test_it_opens_a_ticket_on_a_slow_burn_over_three_days() -> None:
    # 5 of 4,320 minutes burn at 1.16 over three days; 1 of 360 at 2.8 over six hours.
    verdicts = down_minutes_ago(300, 1000, 2000, 3000, 4000)
    assert burn_alert(verdicts, NOW, STANDARD_TIER_1) is AlertLevel.TICKET


def test_it_stays_quiet_when_the_budget_lasts() -> None:
    assert burn_alert(down_minutes_ago(300, 1000, 2000, 3000), NOW,
                      STANDARD_TIER_1) is AlertLevel.NONE
    assert burn_alert({}, NOW, STANDARD_TIER_1) is AlertLevel.NONE


def test_no_data_minutes_count_as_available() -> None:
    verdicts = down_minutes_ago(1) | {NOW_MINUTE - 2: MinuteVerdict.NO_DATA}
    assert window_burn_rate(verdicts, NOW, timedelta(minutes=5), STANDARD_TIER_1) == 200


def test_the_minute_in_progress_is_not_judged_yet() -> None:
    verdicts = {NOW_MINUTE: MinuteVerdict.DOWN}
    assert burn_alert(verdicts, NOW + timedelta(seconds=30), STANDARD_TIER_1) is (
        AlertLevel.NONE)


def test_maintenance_minutes_burn_no_budget() -> None:
    verdicts = down_minutes_ago(1, 2, 3, 4, 5)
    assert burn_alert(verdicts, NOW, STANDARD_TIER_1, maintenance=set(verdicts)) is (
        AlertLevel.NONE)
    marked = dict.fromkeys(verdicts, MinuteVerdict.MAINTENANCE)
    assert burn_alert(marked, NOW, STANDARD_TIER_1) is AlertLevel.NONE
