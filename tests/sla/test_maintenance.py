from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sla.maintenance import apply_maintenance, maintenance_minutes, window_minutes
from sla.model import InvalidWindow, MaintenanceWindow, MinuteVerdict
from sla.period import minute_of, month_period
from tests.sla.builders import at

OCTOBER = month_period("2026-10")


def window(start: datetime, end: datetime, components: set[str] | None = None,
           regions: set[str] | None = None) -> MaintenanceWindow:
    return MaintenanceWindow(start, end, frozenset(components or ()), frozenset(regions or ()))


def test_a_window_takes_the_minutes_whose_start_lies_inside_it() -> None:
    minutes = window_minutes(window(at(10), at(70)), OCTOBER)
    assert len(minutes) == 60
    assert minutes[0] == minute_of(at(10))


def test_a_window_starting_mid_minute_skips_that_minute() -> None:
    minutes = window_minutes(window(at(10, 1), at(12, 1)), OCTOBER)
    assert list(minutes) == [minute_of(at(11)), minute_of(at(12))]


def test_a_window_is_cut_to_the_period() -> None:
    minutes = window_minutes(window(at(-60), at(5)), OCTOBER)
    assert list(minutes) == [minute_of(at(m)) for m in range(5)]


def test_a_window_outside_the_period_takes_nothing() -> None:
    assert len(window_minutes(window(at(-60), at(-1)), OCTOBER)) == 0


def test_empty_lists_mean_every_component_and_region() -> None:
    everywhere = window(at(0), at(1))
    assert everywhere.covers("orders", "us-central1.gcp")
    only = window(at(0), at(1), {"orders"}, {"us-central1.gcp"})
    assert only.covers("orders", "us-central1.gcp")
    assert not only.covers("orders", "europe-west1.gcp")
    assert not only.covers("carts", "us-central1.gcp")


def test_overlapping_windows_count_each_minute_once() -> None:
    windows = [window(at(0), at(30)), window(at(20), at(40), {"orders"}),
               window(at(100), at(200), {"carts"})]
    assert len(maintenance_minutes(windows, "orders", "eu", OCTOBER)) == 40


def test_maintenance_overrides_whatever_the_checks_said() -> None:
    verdicts = {1: MinuteVerdict.DOWN, 2: MinuteVerdict.UP}
    assert apply_maintenance(verdicts, {1, 3}) == {
        1: MinuteVerdict.MAINTENANCE, 2: MinuteVerdict.UP, 3: MinuteVerdict.MAINTENANCE}


def test_a_window_must_end_after_it_starts() -> None:
    with pytest.raises(InvalidWindow, match="before it starts"):
        window(at(10), at(10))


def test_a_window_needs_a_time_zone() -> None:
    with pytest.raises(InvalidWindow, match="time zone"):
        window(datetime(2026, 10, 1), datetime(2026, 10, 2, tzinfo=UTC))  # noqa: DTZ001
