"""Gather a month's checks, in any order, compactly: one int per check, one array per series.

A month of 30-second checks is millions of rows, so a check is kept as a `check_code` in an
`array('q')` (8 bytes), never as an object. Outside the month only what can still confirm
a run crossing its edges is kept: the last `confirmations − 1` checks before the month and
the first `confirmations − 1` after it (a longer run is confirmed either way).
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Iterable, Iterator

from sla.model import Check
from sla.period import MICROS_PER_MINUTE, Period, micros_of
from sla.verdicts import check_code

SeriesKey = tuple[str, str, str]
"""(component, region, location): the checks one location makes of one component-region."""


def _keep_largest(heap: list[int], code: int, size: int) -> None:
    """Keep the `size` largest codes seen in the min-heap `heap`."""
    if len(heap) < size:
        heapq.heappush(heap, code)
    elif size and code > heap[0]:
        heapq.heapreplace(heap, code)


class MonthCollector:
    """Checks of one period, by series; add them in any order, then read `series()` once.

    >>> from datetime import UTC, datetime
    >>> from sla.period import month_period
    >>> collector = MonthCollector(month_period("2026-10"), confirmations=2)
    >>> sent = micros_of(datetime(2026, 10, 3, 12, tzinfo=UTC))
    >>> collector.add(("orders", "eu", "loc-a"), sent, ok=True)
    >>> [(key, len(codes)) for key, codes in collector.series()]
    [(('orders', 'eu', 'loc-a'), 1)]
    """

    def __init__(self, period: Period, confirmations: int) -> None:
        if confirmations < 1:
            raise ValueError("confirmations must be at least 1")
        self.period = period
        self.confirmations = confirmations
        self._first_code = period.first_minute * MICROS_PER_MINUTE * 2
        self._end_code = period.end_minute * MICROS_PER_MINUTE * 2
        self._edge_size = confirmations - 1
        self._inside: dict[SeriesKey, array[int]] = {}
        self._before: dict[SeriesKey, list[int]] = {}  # min-heaps of the latest codes
        self._after: dict[SeriesKey, list[int]] = {}  # min-heaps of the earliest, negated

    def add(self, key: SeriesKey, at_micros: int, ok: bool) -> None:
        """Take one check of the series `key`, sent at `at_micros` since the epoch."""
        code = check_code(at_micros, ok)
        if self._first_code <= code < self._end_code:
            codes = self._inside.get(key)
            if codes is None:
                codes = self._inside[key] = array("q")
            codes.append(code)
        elif code < self._first_code:
            _keep_largest(self._before.setdefault(key, []), code, self._edge_size)
        else:
            _keep_largest(self._after.setdefault(key, []), -code, self._edge_size)

    def add_checks(self, checks: Iterable[Check]) -> None:
        """Take `Check` objects (small inputs and tests; files go through `checkfile`)."""
        for check in checks:
            self.add((check.component, check.region, check.location), micros_of(check.at),
                     check.ok)

    def series(self) -> Iterator[tuple[SeriesKey, list[int]]]:
        """Each series with a check in the period, by key, as codes in time order.

        The codes include the edge checks just outside the period; each series is released
        as it is read, so memory falls while the report is built.
        """
        for key in sorted(self._inside):
            inside = sorted(self._inside.pop(key))
            before = sorted(self._before.get(key, ()))
            after = sorted(-code for code in self._after.get(key, ()))
            yield key, before + inside + after
