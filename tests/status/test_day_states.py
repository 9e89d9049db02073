"""A day bar's state from live-state changes, declared states and minute verdicts (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sla.model import MinuteVerdict
from status.day_states import Span, bar_state, day_states, span_states

DAY = date(2026, 10, 5)
MIDNIGHT = datetime(2026, 10, 5, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_live_changes_become_spans_of_the_states_a_bar_shows() -> None:
    changes = [(MIDNIGHT + 2 * HOUR, "operational", "degraded_performance"),
               (MIDNIGHT + 3 * HOUR, "degraded_performance", "partial_outage"),
               (MIDNIGHT + 4 * HOUR, "partial_outage", "no_data"),
               (MIDNIGHT + 5 * HOUR, "no_data", "operational")]
    now = MIDNIGHT + 10 * HOUR
    assert span_states(changes, "operational", MIDNIGHT, now) == [
        Span(MIDNIGHT + 2 * HOUR, MIDNIGHT + 3 * HOUR, "degraded_performance"),
        Span(MIDNIGHT + 3 * HOUR, MIDNIGHT + 4 * HOUR, "partial_outage")]


def test_the_state_before_the_first_change_and_without_changes_is_known() -> None:
    now = MIDNIGHT + 10 * HOUR
    recovered = [(MIDNIGHT + HOUR, "major_outage", "operational")]
    assert span_states(recovered, "operational", MIDNIGHT, now) == [
        Span(MIDNIGHT, MIDNIGHT + HOUR, "major_outage")]
    assert span_states([], "partial_outage", MIDNIGHT, now) == [
        Span(MIDNIGHT, now, "partial_outage")]
    assert span_states([], None, MIDNIGHT, now) == []


def test_each_day_takes_the_worst_span_touching_it() -> None:
    spans = [Span(MIDNIGHT + 20 * HOUR, MIDNIGHT + 30 * HOUR, "degraded_performance"),
             Span(MIDNIGHT + 25 * HOUR, MIDNIGHT + 26 * HOUR, "partial_outage"),
             Span(MIDNIGHT - 5 * HOUR, MIDNIGHT, "major_outage"),  # ends as the days begin
             Span(MIDNIGHT + 72 * HOUR, MIDNIGHT + 99 * HOUR, "major_outage")]
    assert day_states(spans, DAY, 3) == ["degraded_performance", "partial_outage",
                                         "operational"]


def test_the_bar_is_the_worst_of_the_verdicts_and_the_states() -> None:
    assert bar_state(MinuteVerdict.UP, "operational") == "operational"
    assert bar_state(MinuteVerdict.UP, "partial_outage") == "partial_outage"
    assert bar_state(MinuteVerdict.DOWN, "degraded_performance") == "major_outage"
    assert bar_state(MinuteVerdict.MAINTENANCE, "operational") == "under_maintenance"
    assert bar_state(MinuteVerdict.NO_DATA, "degraded_performance") == "degraded_performance"
    assert bar_state(None, "operational") == "no_data"


def test_a_state_that_began_this_instant_paints_today() -> None:
    """The publish that follows a state change may run in the same second (a moved clock in
    tests, a coarse one in life): the state held now still counts for today."""
    now = MIDNIGHT + 26 * HOUR
    began = [(now, "operational", "major_outage")]
    spans = span_states(began, "operational", MIDNIGHT, now)
    assert spans == [Span(now, now, "major_outage")]
    assert day_states(spans, DAY, 2) == ["operational", "major_outage"]
    assert day_states([Span(MIDNIGHT, MIDNIGHT, "partial_outage")], DAY, 1) == [
        "partial_outage"]
