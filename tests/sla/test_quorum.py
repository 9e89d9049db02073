from __future__ import annotations

import pytest

from sla.model import MinuteVerdict
from sla.period import month_period
from sla.quorum import minute_verdicts, quorum_verdict
from sla.verdicts import DOWN_STATE, NO_DATA_STATE, UP_STATE

OCTOBER = month_period("2026-10")


@pytest.mark.parametrize(
    ("n_with_data", "n_down", "verdict"),
    [
        (0, 0, MinuteVerdict.NO_DATA),
        (1, 0, MinuteVerdict.UP),
        (1, 1, MinuteVerdict.DOWN),
        (2, 1, MinuteVerdict.UP),
        (2, 2, MinuteVerdict.DOWN),
        (3, 1, MinuteVerdict.UP),
        (3, 2, MinuteVerdict.DOWN),
        (4, 2, MinuteVerdict.UP),
        (4, 3, MinuteVerdict.DOWN),
        (5, 3, MinuteVerdict.DOWN),
    ],
)
def test_it_needs_a_strict_majority_of_the_locations_with_data(
        n_with_data: int, n_down: int, verdict: MinuteVerdict) -> None:
    assert quorum_verdict(n_with_data, n_down) is verdict


def test_it_refuses_more_locations_down_than_reporting() -> None:
    with pytest.raises(ValueError, match="3 locations down out of 2"):
        quorum_verdict(2, 3)


def states(*values: int) -> bytearray:
    row = bytearray(OCTOBER.minutes)
    row[: len(values)] = bytes(values)
    return row


def test_it_counts_only_the_locations_that_reported_in_the_minute() -> None:
    verdicts = minute_verdicts([states(DOWN_STATE, DOWN_STATE, NO_DATA_STATE),
                                states(NO_DATA_STATE, UP_STATE, NO_DATA_STATE),
                                states(NO_DATA_STATE, UP_STATE, NO_DATA_STATE)], OCTOBER)
    first = OCTOBER.first_minute
    assert verdicts.verdict_by_minute == {first: MinuteVerdict.DOWN,
                                          first + 1: MinuteVerdict.UP}
    assert verdicts.locations_by_minute == {first: 1, first + 1: 3}


def test_one_location_down_of_three_is_a_partition_not_downtime() -> None:
    verdicts = minute_verdicts([states(DOWN_STATE), states(UP_STATE), states(UP_STATE)],
                               OCTOBER)
    assert verdicts.verdict_by_minute == {OCTOBER.first_minute: MinuteVerdict.UP}
