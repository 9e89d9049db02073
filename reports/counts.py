"""Minute counts from index-only rollup counts plus the few notable rollups (pure).

`sla.uptime.count_minutes` needs every minute's verdict; fetching 44,640 rollups per
(component, region) and month is what makes reports slow. A minute's only contributions
are "has data", "is down" and "one location", and nearly every rollup is `up` from two or
more locations. So the store counts rollups per slice without reading them, and fetches only
the others (`reports.store.notable_minutes`) plus the rollups inside maintenance windows.
`slice_counts` then gives exactly what `count_minutes` gives for each slice; the tests hold
the two side by side on random rollups, windows and both period bases.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence, Set
from datetime import date, timedelta

from sla.model import MinuteCounts, MinuteVerdict, PeriodBasis
from sla.period import EPOCH, Period

DAY_MINUTES = 1440
Notable = tuple[int, MinuteVerdict, int]


def day_slices(first_minute: int, end_minute: int) -> list[Period]:
    """[first, end) cut at each UTC midnight; every slice is labelled with its date."""
    slices = []
    start = first_minute
    while start < end_minute:
        stop = min((start // DAY_MINUTES + 1) * DAY_MINUTES, end_minute)
        label = (EPOCH + timedelta(minutes=start)).date().isoformat()
        slices.append(Period(label, start, stop - start))
        start = stop
    return slices


def day_first_minute(day: date) -> int:
    return (day - EPOCH.date()).days * DAY_MINUTES


class _Slicer:
    """Which slice a minute falls in (slices are consecutive and in order)."""

    def __init__(self, slices: Sequence[Period]) -> None:
        self.starts = [s.first_minute for s in slices]
        self.end = slices[-1].end_minute if slices else 0

    def index(self, minute: int) -> int | None:
        if not self.starts or minute < self.starts[0] or minute >= self.end:
            return None
        return bisect_right(self.starts, minute) - 1


def slice_counts(slices: Sequence[Period], rows: Sequence[int], notable: Iterable[Notable],
                 held: Set[int], held_rows: Set[int]) -> list[MinuteCounts]:
    """Each slice's minute counts, as `count_minutes` computes them from every verdict.

    `rows[i]` is how many minutes of slice i have a rollup; `notable` the rollups that are
    not `up` from two or more locations; `held` the maintenance minutes; `held_rows` the held
    minutes that have a rollup. A rollup whose verdict is `maintenance` is held too, and one
    whose verdict is `no_data` is not data (the rollup job writes neither).
    """
    slicer = _Slicer(slices)
    size = len(slices)
    maintenance, not_data, down, single = [0] * size, [0] * size, [0] * size, [0] * size
    notable = list(notable)
    held_all = set(held) | {m for m, v, _ in notable if v is MinuteVerdict.MAINTENANCE}
    for minute in held_all:
        index = slicer.index(minute)
        if index is not None:
            maintenance[index] += 1
    for minute in held_rows | {m for m, v, _ in notable if v is MinuteVerdict.MAINTENANCE}:
        index = slicer.index(minute)
        if index is not None:
            not_data[index] += 1
    for minute, verdict, locations in notable:
        index = slicer.index(minute)
        if index is None or minute in held_all:
            continue
        not_data[index] += verdict is MinuteVerdict.NO_DATA
        down[index] += verdict is MinuteVerdict.DOWN
        single[index] += locations == 1
    counts = []
    for index, piece in enumerate(slices):
        with_data = rows[index] - not_data[index]
        counts.append(MinuteCounts(
            period=piece.minutes, maintenance=maintenance[index], downtime=down[index],
            no_data=piece.minutes - maintenance[index] - with_data,
            single_location=single[index]))
    return counts


def total_counts(parts: Iterable[MinuteCounts]) -> MinuteCounts:
    """Several slices' minutes added up, to divide once (spec §8)."""
    total = MinuteCounts(period=0, maintenance=0, downtime=0, no_data=0, single_location=0)
    for part in parts:
        total = total + part
    return total


def month_counts(period: Period, basis: PeriodBasis, days: Iterable[MinuteCounts],
                 ) -> MinuteCounts:
    """A month's counts from its days; under `fixed_30d` only `period` changes (spec §8)."""
    total = total_counts(days)
    return MinuteCounts(period=period.basis_minutes(basis), maintenance=total.maintenance,
                        downtime=total.downtime, no_data=total.no_data,
                        single_location=total.single_location)
