"""Maintenance windows as values: coverage, display, SLA view and input (no database)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sla.catalog import STANDARD
from sla.maintenance import maintenance_minutes
from sla.model import MaintenanceWindow, MinuteVerdict, SlaLine
from sla.period import month_period
from sla.report import month_line
from status.maintenance import (
    Booked,
    InvalidMaintenance,
    Window,
    WindowInput,
    check_not_over_downtime,
    covers,
    displayed_state,
    parse_window,
    phase,
    to_sla_windows,
)
from tests.status.conftest import AU, EU, START, US

HOUR = timedelta(hours=1)


def window(*scopes: tuple[str, str], cancelled_after: timedelta | None = None) -> Window:
    cancelled = START + cancelled_after if cancelled_after is not None else None
    return Window(1, "Upgrade", "", START, START + HOUR, scopes or (("", ""),), cancelled)


def test_a_window_covers_its_scope_during_its_time_only() -> None:
    w = window(("orders", ""))
    assert covers(w, "orders", EU, START)
    assert covers(w, "orders", AU, START + HOUR - timedelta(seconds=1))
    assert not covers(w, "orders", EU, START + HOUR)
    assert not covers(w, "orders", EU, START - timedelta(seconds=1))
    assert not covers(w, "carts", EU, START)


def test_empty_scope_means_everything_and_regions_narrow_it() -> None:
    assert covers(window(), "search", US, START)
    w = window(("", EU))
    assert covers(w, "search", EU, START)
    assert not covers(w, "search", US, START)


def test_a_cancelled_window_ends_when_cancelled() -> None:
    w = window(cancelled_after=timedelta(minutes=20))
    assert covers(w, "orders", EU, START + timedelta(minutes=19))
    assert not covers(w, "orders", EU, START + timedelta(minutes=20))
    assert phase(w, START + timedelta(minutes=10)) == "scheduled"
    assert phase(w, START + timedelta(minutes=30)) == "cancelled"
    assert not covers(window(cancelled_after=-HOUR), "orders", EU, START)


def test_the_displayed_state_is_under_maintenance_while_covered() -> None:
    w = window(("orders", EU))
    assert displayed_state("major_outage", "orders", EU, [w], START) == "under_maintenance"
    assert displayed_state("major_outage", "orders", EU, [w], START + HOUR) == "major_outage"


def test_the_sla_sees_one_window_per_scope_and_nothing_of_a_cancelled_one() -> None:
    w = window(("carts", EU), ("orders", EU), cancelled_after=timedelta(minutes=30))
    assert to_sla_windows(w) == [
        MaintenanceWindow(START, START + timedelta(minutes=30), frozenset({"carts"}),
                          frozenset({EU})),
        MaintenanceWindow(START, START + timedelta(minutes=30), frozenset({"orders"}),
                          frozenset({EU}))]
    assert to_sla_windows(window(cancelled_after=-timedelta(minutes=5))) == []


def test_phases_follow_the_clock() -> None:
    w = window()
    assert [phase(w, START - HOUR), phase(w, START), phase(w, START + HOUR)] == [
        "scheduled", "in_progress", "completed"]


GOOD: dict[str, Any] = {"title": "DB upgrade", "starts_at": "2026-10-09T02:00:00Z",
                        "ends_at": "2026-10-09T03:00:00+00:00", "components": ["orders"],
                        "regions": [EU]}


def test_a_window_input_becomes_scopes() -> None:
    parsed = parse_window({**GOOD, "components": ["orders", "carts"]}, (EU, US), START)
    assert parsed.scopes == [("carts", EU), ("orders", EU)]
    assert parse_window({**GOOD, "components": [], "regions": []}, (EU,), START).scopes == [
        ("", "")]


@pytest.mark.parametrize(("change", "complaint"), [
    ({"starts_at": "tomorrow"}, "not an ISO 8601 time"),
    ({"starts_at": "2026-10-09T02:00:00"}, "needs a time zone"),
    ({"ends_at": "2026-10-09T01:00:00Z"}, "after 'starts_at'"),
    ({"starts_at": "2026-09-30T00:00:00Z"}, "in the past"),
    ({"starts_at": "2026-10-01T11:58:00Z"}, "in the past"),
    ({"starts_at": "2026-10-01T12:00:00Z"}, "less than 7 days' notice: give the reason"),
    ({"starts_at": "2026-10-08T11:58:00Z"}, "starting before 2026-10-08 12:00 UTC"),
    ({"starts_at": "2026-10-01T12:00:00Z", "short_notice_reason": " "}, "give the reason"),
    ({"short_notice_reason": "x" * 2001}, "at most 2000 characters"),
    ({"ends_at": "2026-10-20T00:00:00Z"}, "at most 7 days"),
    ({"regions": ["mars-1"]}, "unknown region"),
    ({"components": "orders"}, "must be a list"),
    ({"title": " "}, "'title' must not be empty"),
])
def test_bad_windows_say_what_to_fix(change: dict[str, Any], complaint: str) -> None:
    with pytest.raises(InvalidMaintenance, match=complaint):
        parse_window({**GOOD, **change}, (EU, US), START)


def test_a_window_needs_seven_days_notice_less_a_minute_of_clock_skew() -> None:
    """The spec excludes planned servicing announced seven days ahead; a started outage can
    never be covered after the fact (an earlier start is refused as in the past)."""
    week = START + timedelta(days=7)
    for start in (week, week - timedelta(seconds=59), week + timedelta(days=3)):
        body = {**GOOD, "starts_at": start.isoformat(),
                "ends_at": (start + HOUR).isoformat()}
        assert parse_window(body, (EU,), START).start == start
    with pytest.raises(InvalidMaintenance) as short:
        parse_window({**GOOD, "starts_at": (START + timedelta(days=6)).isoformat(),
                      "ends_at": (START + timedelta(days=6) + HOUR).isoformat()}, (EU,), START)
    assert short.value.code == "maintenance_short_notice"
    with pytest.raises(InvalidMaintenance) as past:
        parse_window({**GOOD, "starts_at": (START - timedelta(minutes=2)).isoformat(),
                      "ends_at": (START + HOUR).isoformat()}, (EU,), START)
    assert past.value.code == "maintenance_in_the_past"


def test_a_short_notice_window_needs_a_reason_and_keeps_it() -> None:
    """Less than 7 days ahead is accepted only with a reason; a reason given with enough
    notice is not kept (the window is plainly excluded from the SLA)."""
    soon = {**GOOD, "starts_at": (START + HOUR).isoformat(),
            "ends_at": (START + 2 * HOUR).isoformat()}
    with pytest.raises(InvalidMaintenance) as refused:
        parse_window(soon, (EU,), START)
    assert refused.value.code == "maintenance_short_notice"
    parsed = parse_window({**soon, "short_notice_reason": "  CVE-2026-1 patch  "}, (EU,), START)
    assert parsed.short_notice_reason == "CVE-2026-1 patch"
    assert parse_window({**GOOD, "short_notice_reason": "why not"}, (EU,),
                        START).short_notice_reason is None
    with pytest.raises(InvalidMaintenance, match="in the past"):
        parse_window({**soon, "short_notice_reason": "late",
                      "starts_at": (START - timedelta(minutes=2)).isoformat()}, (EU,), START)


def test_a_short_notice_window_is_not_excluded_from_the_sla() -> None:
    """Spec, 'Facts it is built on': only planned servicing announced seven days ahead is
    excluded. A short-notice window shows as maintenance but gives the SLA no window."""
    short = Window(2, "Patch", "", START, START + HOUR, (("orders", EU),), None, "CVE fix")
    assert short.short_notice
    assert to_sla_windows(short) == []
    assert displayed_state("major_outage", "orders", EU, [short], START) == "under_maintenance"
    assert len(to_sla_windows(window(("orders", EU)))) == 1


def booked(component: str, region: str, start: timedelta, end: timedelta | None) -> Booked:
    return Booked(component, region, START + start,
                  None if end is None else START + end, "incident #7")


@pytest.mark.parametrize(("spans", "refused"), [
    ([], False),
    ([booked("orders", EU, -HOUR, None)], True),  # still going: booked up to now
    ([booked("orders", US, -HOUR, None)], False),  # another region
    ([booked("carts", EU, -HOUR, None)], False),  # another component
    ([booked("orders", EU, -HOUR, -timedelta(minutes=10))], False),  # over before
    ([booked("orders", EU, timedelta(seconds=30), timedelta(minutes=1))], True),
])
def test_a_window_never_covers_downtime_already_booked(spans: list[Booked],
                                                       refused: bool) -> None:
    now_window = WindowInput("Patch", "", START, START + HOUR, ("orders",), (EU,), "urgent")
    if refused:
        with pytest.raises(InvalidMaintenance) as exc:
            check_not_over_downtime(now_window, spans, START)
        assert exc.value.code == "maintenance_over_downtime"
        assert "orders in europe-west1.gcp is booked as downtime" in exc.value.detail
    else:
        check_not_over_downtime(now_window, spans, START)
    later = WindowInput("Patch", "", START + 2 * HOUR, START + 3 * HOUR, (), (), "urgent")
    check_not_over_downtime(later, [s for s in spans if s.end is None], START)


def test_an_ongoing_span_counts_up_to_the_minute_in_progress() -> None:
    spans = [booked("search", AU, -HOUR, None)]
    starting = WindowInput("Fix", "", START + timedelta(seconds=50), START + HOUR, (), (AU,),
                           "urgent")
    with pytest.raises(InvalidMaintenance):
        check_not_over_downtime(starting, spans, START)
    check_not_over_downtime(WindowInput("Fix", "", START + timedelta(minutes=2),
                                        START + HOUR, (), (AU,), "urgent"), spans, START)


@settings(max_examples=60, deadline=None)
@given(offset=st.integers(0, 44_000), length=st.integers(1, 600),
       down=st.sets(st.integers(0, 44_639), max_size=80))
def test_property_a_short_notice_window_leaves_every_sla_figure_as_without_it(
        offset: int, length: int, down: set[int]) -> None:
    """Whatever the month's down minutes and wherever the window lies: with a short-notice
    reason the line equals the line without any window (its down minutes are downtime);
    announced in time, the minutes under it are maintenance and none of them downtime."""
    period = month_period("2026-10")
    start = period.start + timedelta(minutes=offset)
    planned = Window(1, "Work", "", start, start + timedelta(minutes=length),
                     (("orders", EU),))
    short = Window(1, "Work", "", planned.start, planned.end, planned.scopes, None, "urgent")
    verdicts = {period.first_minute + m: MinuteVerdict.DOWN for m in down}

    def line(w: Window | None) -> SlaLine:
        windows = to_sla_windows(w) if w is not None else []
        return month_line("orders", EU, period, verdicts,
                          maintenance_minutes(windows, "orders", EU, period), STANDARD)

    assert line(short) == line(None)
    assert line(short).downtime_minutes == len(down)
    under = {m for m in down if offset <= m < offset + length}
    assert line(planned).maintenance_minutes == min(length, period.minutes - offset)
    assert line(planned).downtime_minutes == len(down) - len(under)
