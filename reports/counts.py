"""Minute counts from the day summaries, index-only rollup counts and notable rollups (pure).

`sla.uptime.count_minutes` needs every minute's verdict; fetching 44,640 rollups per
(component, region) and month is what makes reports slow. A minute's only contributions
are "has data", "is down" and "one location", and nearly every rollup is `up` from two or
more locations. So:

- a whole UTC day that no maintenance window touches is counted from its day summary
  (`DayTotals`, kept by the rollup job in `rollup_days`): one row instead of 1,440;
- the other minutes (slice edges, days a window touches; `split_slices` says which) are
  counted from the rollups without reading them, plus a fetch of only the others
  (`probes.rollup_reads.notable_minutes`) and of the rollups inside maintenance windows, which
  `slice_counts` turns into exactly what `count_minutes` gives.

`combine_counts` adds the two per slice; the tests hold the result beside `count_minutes`
on random rollups, windows and both period bases.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
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
    """Which slice a minute falls in (slices are in order and do not overlap; gaps allowed)."""

    def __init__(self, slices: Sequence[Period]) -> None:
        self.starts = [s.first_minute for s in slices]
        self.ends = [s.end_minute for s in slices]

    def index(self, minute: int) -> int | None:
        index = bisect_right(self.starts, minute) - 1
        if index < 0 or minute >= self.ends[index]:
            return None
        return index


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


@dataclass(frozen=True, slots=True)
class DayTotals:
    """A UTC day's minute rollups counted, as the rollup job keeps them in `rollup_days`.

    `single_location` leaves out rollups whose verdict is `maintenance`, which count there.

    >>> DayTotals(minutes=1430, down=3, single_location=12, maintenance=0, no_data=0).counts()
    MinuteCounts(period=1440, maintenance=0, downtime=3, no_data=10, single_location=12)
    """

    minutes: int
    down: int
    single_location: int
    maintenance: int
    no_data: int

    def counts(self) -> MinuteCounts:
        """The whole day's counts, for a day no maintenance window touches."""
        with_data = self.minutes - self.maintenance - self.no_data
        return MinuteCounts(period=DAY_MINUTES, maintenance=self.maintenance,
                            downtime=self.down,
                            no_data=DAY_MINUTES - self.maintenance - with_data,
                            single_location=self.single_location)


NO_ROLLUPS = DayTotals(minutes=0, down=0, single_location=0, maintenance=0, no_data=0)


@dataclass(frozen=True, slots=True)
class SplitSlices:
    """Where each slice's minutes are counted.

    `whole_days[i]`: the day numbers (`minute // 1440`) of slice i read from day summaries;
    `pieces`: every other stretch, in order, counted minute by minute; `piece_slice[j]`: the
    slice piece j belongs to.
    """

    whole_days: tuple[tuple[int, ...], ...]
    pieces: tuple[Period, ...]
    piece_slice: tuple[int, ...]

    @property
    def day_span(self) -> tuple[int, int]:
        """[first, end) of the summary days read (empty when there are none)."""
        days = [day for some in self.whole_days for day in some]
        return (min(days), max(days) + 1) if days else (0, 0)

    def runs(self) -> list[tuple[int, int]]:
        """The pieces as [first, end) minute ranges, adjacent pieces joined."""
        joined: list[tuple[int, int]] = []
        for piece in self.pieces:
            if joined and joined[-1][1] == piece.first_minute:
                joined[-1] = (joined[-1][0], piece.end_minute)
            else:
                joined.append((piece.first_minute, piece.end_minute))
        return joined


def _holds_any(held: Sequence[int], first: int, end: int) -> bool:
    """Whether the sorted `held` has a minute in [first, end)."""
    index = bisect_left(held, first)
    return index < len(held) and held[index] < end


def split_slices(slices: Sequence[Period], held: Set[int]) -> SplitSlices:
    """Cut each slice at UTC midnights: whole days without a held minute come from the day
    summaries, the rest (the slice's edges, days a maintenance window touches) from minutes."""
    ordered = sorted(held)
    whole_days: list[tuple[int, ...]] = []
    pieces: list[Period] = []
    piece_slice: list[int] = []
    for index, piece in enumerate(slices):
        days = []
        for day in day_slices(piece.first_minute, piece.end_minute):
            if day.minutes == DAY_MINUTES and not _holds_any(ordered, day.first_minute,
                                                             day.end_minute):
                days.append(day.first_minute // DAY_MINUTES)
            else:
                pieces.append(day)
                piece_slice.append(index)
        whole_days.append(tuple(days))
    return SplitSlices(tuple(whole_days), tuple(pieces), tuple(piece_slice))


def combine_counts(split: SplitSlices, totals: Mapping[int, DayTotals],
                   piece_counts: Sequence[MinuteCounts]) -> list[MinuteCounts]:
    """Each slice's counts: its summary days (a day without one has no rollups) plus its
    pieces' counts from `slice_counts`."""
    parts: list[list[MinuteCounts]] = [
        [totals.get(day, NO_ROLLUPS).counts() for day in days] for days in split.whole_days]
    for index, counts in zip(split.piece_slice, piece_counts, strict=True):
        parts[index].append(counts)
    return [total_counts(part) for part in parts]


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
