from __future__ import annotations

from fractions import Fraction

import pytest

from sla.credits import credit_pct


@pytest.mark.parametrize(
    ("uptime", "credit"),
    [(Fraction(9998, 100), 10), (Fraction(99), 10), (Fraction(99) - Fraction(1, 10**9), 25),
     (Fraction(95), 25), (Fraction(9499, 100), 50), (Fraction(0), 50)],
)
def test_it_credits_a_missed_month_by_band(uptime: Fraction, credit: int) -> None:
    assert credit_pct(uptime, met=False) == credit


def test_a_met_month_earns_no_credit() -> None:
    assert credit_pct(Fraction(50), met=True) == 0
