"""A location's confirmed failures and its minute states (spec §2).

The live evaluator in `probes/` and the SLA use this same code: `RunTracker` one check at a
time, `confirmed_failure_flags` for a whole series, `location_minute_status` for one minute.
"""

from __future__ import annotations

from collections.abc import Sequence

from sla.model import MinuteVerdict
from sla.period import MICROS_PER_MINUTE, Period

# A location-minute packed in one byte: bit 0 "has checks", bit 1 "a confirmed failure".
NO_DATA_STATE = 0
UP_STATE = 1
DOWN_STATE = 3


def check_code(at_micros: int, ok: bool) -> int:
    """One check as one int that sorts by time, failures first at the same time (§2).

    >>> sorted([check_code(5, True), check_code(5, False)]) == [10, 11]
    True
    """
    return at_micros * 2 + ok


def confirmed_failure_flags(oks: Sequence[bool], confirmations: int) -> list[bool]:
    """For checks in time order: which are failures in a run of at least `confirmations`.

    >>> confirmed_failure_flags([True, False, True, False, False, True], 2)
    [False, False, False, True, True, False]
    """
    flags = [False] * len(oks)
    run_start = 0
    for index, ok in enumerate(oks):
        if ok:
            if index - run_start >= confirmations:
                flags[run_start:index] = [True] * (index - run_start)
            run_start = index + 1
    # A run still open at the end of the data counts once it is long enough.
    if len(oks) - run_start >= confirmations:
        flags[run_start:] = [True] * (len(oks) - run_start)
    return flags


class RunTracker:
    """The incremental form of `confirmed_failure_flags`, for checks arriving in time order.

    >>> tracker = RunTracker(confirmations=2)
    >>> [tracker.observe(ok) for ok in (False, False, False, True)]
    [0, 2, 1, 0]
    >>> tracker.is_down
    False
    """

    __slots__ = ("confirmations", "run_length")

    def __init__(self, confirmations: int) -> None:
        if confirmations < 1:
            raise ValueError("confirmations must be at least 1")
        self.confirmations = confirmations
        self.run_length = 0

    def observe(self, ok: bool) -> int:
        """Take the next check; return how many checks it confirms (itself and the run before)."""
        if ok:
            self.run_length = 0
            return 0
        self.run_length += 1
        if self.run_length == self.confirmations:
            return self.confirmations
        return 1 if self.run_length > self.confirmations else 0

    @property
    def is_down(self) -> bool:
        """Whether the location is down now: its current failure run is confirmed."""
        return self.run_length >= self.confirmations


def location_minute_status(confirmed_flags: Sequence[bool]) -> MinuteVerdict:
    """A location-minute from the confirmed flags of its checks: no checks, up, or down."""
    if not confirmed_flags:
        return MinuteVerdict.NO_DATA
    return MinuteVerdict.DOWN if any(confirmed_flags) else MinuteVerdict.UP


def location_minute_states(codes: Sequence[int], confirmations: int, period: Period) -> bytearray:
    """One byte per minute of `period` (NO_DATA_STATE, UP_STATE, DOWN_STATE) for one location.

    `codes` are `check_code`s in ascending order; those outside the period still count
    towards runs crossing its edges, but mark no minute.
    """
    flags = confirmed_failure_flags([code & 1 == 1 for code in codes], confirmations)
    states = bytearray(period.minutes)
    first, size = period.first_minute, period.minutes
    for code, down in zip(codes, flags, strict=True):
        offset = (code >> 1) // MICROS_PER_MINUTE - first
        if 0 <= offset < size:
            states[offset] |= DOWN_STATE if down else UP_STATE
    return states
