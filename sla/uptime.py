"""A period's minute totals and its uptime, exactly (spec §5 and §8).

Percentages are `Fraction`s until they are reported, so `met` and the credit bands are
decided without any rounding; `rounded_pct` rounds half to even (as Python's `round` and
`decimal` do; no vector lands on a tie).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from decimal import Decimal
from fractions import Fraction

from sla.model import MinuteCounts, MinuteVerdict, PeriodBasis
from sla.period import Period

HUNDRED = Fraction(100)


def count_minutes(period: Period, verdict_by_minute: Mapping[int, MinuteVerdict],
                  maintenance: Set[int], *, basis: PeriodBasis = PeriodBasis.CALENDAR,
                  locations_by_minute: Mapping[int, int] | None = None) -> MinuteCounts:
    """The period's minutes by kind; absent minutes are `no_data`, outside ones are ignored.

    A minute is maintenance when it is in `maintenance` or its verdict says so. Under the
    fixed 30-day basis only `period` changes: the other counts are the calendar month's.
    """
    first, end = period.first_minute, period.end_minute
    held = {minute for minute in maintenance if first <= minute < end}
    held.update(minute for minute, verdict in verdict_by_minute.items()
                if verdict == MinuteVerdict.MAINTENANCE and first <= minute < end)
    downtime = with_data = 0
    for minute, verdict in verdict_by_minute.items():
        if first <= minute < end and minute not in held and verdict != MinuteVerdict.NO_DATA:
            with_data += 1
            downtime += verdict == MinuteVerdict.DOWN
    single = None
    if locations_by_minute is not None:
        single = sum(1 for minute, n in locations_by_minute.items()
                     if n == 1 and first <= minute < end and minute not in held)
    return MinuteCounts(period=period.basis_minutes(basis), maintenance=len(held),
                        downtime=downtime, no_data=period.minutes - len(held) - with_data,
                        single_location=single)


def uptime_pct(counts: MinuteCounts) -> Fraction:
    """`100 × (eligible − downtime) / eligible`, exactly; 100 with nothing eligible.

    Only the fixed 30-day basis can put downtime above eligible; the figure stops at 0.
    """
    if counts.eligible == 0:
        return HUNDRED
    return max(Fraction(100 * (counts.eligible - counts.downtime), counts.eligible),
               Fraction(0))


def coverage_pct(counts: MinuteCounts) -> Fraction:
    """Eligible minutes that had data, in percent: no-data minutes count as available (§8)."""
    if counts.eligible == 0:
        return HUNDRED
    covered = Fraction(100 * (counts.eligible - counts.no_data), counts.eligible)
    return min(max(covered, Fraction(0)), HUNDRED)


def target_met(uptime: Fraction, target_pct: Decimal) -> bool:
    """`uptime ≥ target`, compared exactly (no float on either side)."""
    return uptime >= Fraction(target_pct)


def rounded_pct(value: Fraction, places: int = 4) -> Decimal:
    """A percentage as reported: `places` decimals, half to even, computed exactly.

    >>> rounded_pct(Fraction(100 * 43175, 43200))
    Decimal('99.9421')
    """
    return Decimal(round(value * 10**places)).scaleb(-places)
