"""Service credits for a missed month (spec §6): the same bands for every plan and tier."""

from __future__ import annotations

from fractions import Fraction

# (lowest uptime of the band, credit percent), best band first; below the last: WORST_CREDIT.
CREDIT_BANDS: tuple[tuple[Fraction, int], ...] = ((Fraction(99), 10), (Fraction(95), 25))
WORST_CREDIT = 50


def credit_pct(uptime: Fraction, met: bool) -> int:
    """The credit (percent of the pro-rata fee) a month earns, judged on the exact uptime.

    >>> credit_pct(Fraction(9866, 100), met=False), credit_pct(Fraction(99), met=False)
    (25, 10)
    """
    if met:
        return 0
    for lowest, credit in CREDIT_BANDS:
        if uptime >= lowest:
            return credit
    return WORST_CREDIT
