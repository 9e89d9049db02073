"""One minute verdict from several locations: a strict majority of those with data (spec §3).

One location losing its network path cannot book downtime while the others see the service
up; the live evaluator asks `quorum_verdict` the same question.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sla.model import MinuteVerdict
from sla.period import Period
from sla.verdicts import DOWN_STATE, NO_DATA_STATE


def quorum_verdict(n_with_data: int, n_down: int) -> MinuteVerdict:
    """The minute's verdict when `n_with_data` locations reported and `n_down` were down.

    >>> quorum_verdict(3, 1), quorum_verdict(3, 2), quorum_verdict(2, 1), quorum_verdict(0, 0)
    (<MinuteVerdict.UP: 'up'>, <MinuteVerdict.DOWN: 'down'>, \
<MinuteVerdict.UP: 'up'>, <MinuteVerdict.NO_DATA: 'no_data'>)
    """
    if not 0 <= n_down <= n_with_data:
        raise ValueError(f"{n_down} locations down out of {n_with_data} with data")
    if n_with_data == 0:
        return MinuteVerdict.NO_DATA
    return MinuteVerdict.DOWN if n_down >= n_with_data // 2 + 1 else MinuteVerdict.UP


@dataclass(frozen=True, slots=True)
class MinuteVerdicts:
    """A component-region's verdict for each minute with data, and how many locations saw it.

    Minutes that are absent are `no_data`; keys are epoch minutes (`sla.period.minute_of`).
    """

    verdict_by_minute: dict[int, MinuteVerdict]
    locations_by_minute: dict[int, int]


def minute_verdicts(location_states: Sequence[bytearray], period: Period) -> MinuteVerdicts:
    """Combine each location's `location_minute_states` of `period` into minute verdicts."""
    verdicts: dict[int, MinuteVerdict] = {}
    reporting: dict[int, int] = {}
    first = period.first_minute
    for offset, column in enumerate(zip(*location_states, strict=True)):
        n_with_data = len(column) - column.count(NO_DATA_STATE)
        if n_with_data:
            verdicts[first + offset] = quorum_verdict(n_with_data, column.count(DOWN_STATE))
            reporting[first + offset] = n_with_data
    return MinuteVerdicts(verdicts, reporting)
