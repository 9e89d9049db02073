"""One (component, region) over a range of minutes, from the rollups: counts and SLA lines.

`load_series` is the fast path every report uses (whole days from the day summaries, the
rest from index-only counts plus the notable rollups, see `reports.counts`);
`line_from_rollups` is the plain path, every verdict fed to `sla.report.month_line`, kept as
the reference the fast path is tested against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass

from sqlalchemy.orm import Session

from probes import rollup_reads
from reports import store
from reports.counts import (
    DayTotals,
    Notable,
    SplitSlices,
    combine_counts,
    slice_counts,
    split_slices,
)
from sla.maintenance import maintenance_minutes, window_minutes
from sla.model import MaintenanceWindow, MinuteCounts, MinuteVerdict, Plan, SlaLine
from sla.period import Period
from sla.report import month_line


def span_of(slices: Sequence[Period]) -> Period:
    """The period from the first slice's start to the last one's end."""
    first, end = slices[0].first_minute, slices[-1].end_minute
    return Period(f"{slices[0].label}/{slices[-1].label}", first, end - first)


@dataclass(frozen=True, slots=True)
class SeriesRollups:
    """What the rollups say about a (component, region) over consecutive slices.

    `days` are the summaries of the split's whole days; `rows` and `notable` cover only its
    pieces (the minutes counted one by one).
    """

    slices: Sequence[Period]
    split: SplitSlices
    days: Mapping[int, DayTotals]
    rows: Sequence[int]
    notable: Sequence[Notable]
    held: Set[int]
    held_rows: Set[int]

    def counts(self) -> list[MinuteCounts]:
        """Each slice's minute counts, as `sla.uptime.count_minutes` gives them."""
        pieces = slice_counts(self.split.pieces, self.rows, self.notable, self.held,
                              self.held_rows)
        return combine_counts(self.split, self.days, pieces)


def load_series(session: Session, component: str, region: str, slices: Sequence[Period],
                windows: Sequence[MaintenanceWindow]) -> SeriesRollups:
    """Read what the counts of `slices` need: the day summaries of whole days, and for the
    other minutes a count, the notable rollups and the held rollups; never every row."""
    if not slices:
        return SeriesRollups((), SplitSlices((), (), ()), {}, (), (), frozenset(),
                             frozenset())
    span = span_of(slices)
    covering = [w for w in windows if w.covers(component, region)]
    held = maintenance_minutes(covering, component, region, span)
    split = split_slices(slices, held)
    first_day, end_day = split.day_span
    days = store.day_totals(session, component, region, first_day, end_day) \
        if end_day > first_day else {}
    notable = [row for first, end in split.runs()
               for row in rollup_reads.notable_minutes(session, component, region, first, end)]
    return SeriesRollups(
        slices=slices, split=split, days=days,
        rows=rollup_reads.rows_per_slice(session, component, region, split.pieces),
        notable=notable, held=held,
        held_rows=rollup_reads.minutes_with_rollups(session, component, region,
                                             [window_minutes(w, span) for w in covering]))


def down_minutes(session: Session, component: str, region: str, first_minute: int,
                 end_minute: int) -> dict[int, MinuteVerdict]:
    """The down minutes in [first, end): all a burn rate needs, since up and no data count
    alike (spec §7)."""
    return {minute: verdict
            for minute, verdict, _ in rollup_reads.notable_minutes(session, component, region,
                                                            first_minute, end_minute)
            if verdict is MinuteVerdict.DOWN}


def series_counts(session: Session, component: str, region: str, slices: Sequence[Period],
                  windows: Sequence[MaintenanceWindow]) -> list[MinuteCounts]:
    """Each slice's minute counts for the (component, region); slices are consecutive."""
    return load_series(session, component, region, slices, windows).counts()


def line_from_rollups(session: Session, component: str, region: str, period: Period,
                      plan: Plan, windows: Sequence[MaintenanceWindow]) -> SlaLine:
    """The plain path: every rollup of the period into `sla.report.month_line`."""
    verdicts = rollup_reads.verdicts_from_rollups(session, component, region, period.first_minute,
                                           period.end_minute - 1)
    held = maintenance_minutes(windows, component, region, period)
    return month_line(component, region, period, verdicts.verdict_by_minute, held, plan,
                      locations_by_minute=verdicts.locations_by_minute)
