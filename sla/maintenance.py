"""Which minutes planned maintenance takes out of the commitment (spec §4)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set

from sla.model import MaintenanceWindow, MinuteVerdict
from sla.period import MICROS_PER_MINUTE, Period, micros_of


def _first_minute_from(micros: int) -> int:
    """The first minute whose start is at or after `micros`."""
    return -(-micros // MICROS_PER_MINUTE)


def window_minutes(window: MaintenanceWindow, period: Period) -> range:
    """The minutes of `period` whose start lies inside the window's `[start, end)`."""
    first = max(_first_minute_from(micros_of(window.start)), period.first_minute)
    end = min(_first_minute_from(micros_of(window.end)), period.end_minute)
    return range(first, max(first, end))


def maintenance_minutes(windows: Iterable[MaintenanceWindow], component: str, region: str,
                        period: Period) -> frozenset[int]:
    """Every minute of `period` under a window covering the component in the region."""
    minutes: set[int] = set()
    for window in windows:
        if window.covers(component, region):
            minutes.update(window_minutes(window, period))
    return frozenset(minutes)


def apply_maintenance(verdict_by_minute: Mapping[int, MinuteVerdict],
                      maintenance: Set[int]) -> dict[int, MinuteVerdict]:
    """The verdicts with maintenance minutes marked so, whatever their checks said."""
    marked = dict(verdict_by_minute)
    marked.update(dict.fromkeys(maintenance, MinuteVerdict.MAINTENANCE))
    return marked
