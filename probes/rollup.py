"""Checks → minute rollups, pure: the spec's confirmation per location and quorum across them.

The SLA reads these rollups, and the same `sla` functions decide them, so a report and a
recount of the raw checks can never disagree.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from sla.model import MinuteVerdict
from sla.quorum import quorum_verdict
from sla.verdicts import confirmed_failure_flags, location_minute_status


@dataclass(frozen=True, slots=True)
class RawCheck:
    """What a rollup needs of a check. `minute` is the epoch minute of its start."""

    at_micros: int
    ok: bool
    degraded: bool
    latency_ms: float

    @property
    def minute(self) -> int:
        return self.at_micros // 60_000_000

    @property
    def order(self) -> tuple[int, bool]:
        """Time order, failures first at the same time (spec §2)."""
        return (self.at_micros, self.ok)


@dataclass(frozen=True, slots=True)
class Latency:
    p50_ms: float
    p95_ms: float
    max_ms: float


@dataclass(frozen=True, slots=True)
class LocationMinuteRollup:
    location: str
    minute: int
    checks: int
    failures: int
    degraded: int
    latency: Latency
    status: MinuteVerdict


@dataclass(frozen=True, slots=True)
class ComponentMinuteRollup:
    minute: int
    checks: int
    failures: int
    degraded: int
    locations: int
    locations_down: int
    latency: Latency
    verdict: MinuteVerdict


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (0 when there are none).

    >>> percentile([10.0, 20.0, 30.0, 40.0], 0.5), percentile([10.0, 20.0, 30.0, 40.0], 0.95)
    (20.0, 40.0)
    """
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_of(values: Sequence[float]) -> Latency:
    ordered = sorted(values)
    return Latency(round(percentile(ordered, 0.5), 3), round(percentile(ordered, 0.95), 3),
                   round(ordered[-1], 3) if ordered else 0.0)


def roll_up_location(location: str, checks: Sequence[RawCheck], minutes: Collection[int],
                     confirmations: int) -> list[LocationMinuteRollup]:
    """One location's rollups for `minutes`; `checks` may reach beyond them for context."""
    ordered = sorted(checks, key=lambda c: c.order)
    flags = confirmed_failure_flags([c.ok for c in ordered], confirmations)
    by_minute: dict[int, list[tuple[RawCheck, bool]]] = defaultdict(list)
    for check, confirmed in zip(ordered, flags, strict=True):
        if check.minute in minutes:
            by_minute[check.minute].append((check, confirmed))
    return [
        LocationMinuteRollup(
            location=location, minute=minute, checks=len(rows),
            failures=sum(not c.ok for c, _ in rows), degraded=sum(c.degraded for c, _ in rows),
            latency=latency_of([c.latency_ms for c, _ in rows]),
            status=location_minute_status([confirmed for _, confirmed in rows]))
        for minute, rows in sorted(by_minute.items())
    ]


def roll_up(series: Mapping[str, Sequence[RawCheck]], minutes: Collection[int],
            confirmations: int) -> tuple[list[LocationMinuteRollup], list[ComponentMinuteRollup]]:
    """Rollups of one (component, region) for `minutes`, per location and combined."""
    per_location = [row for location, checks in sorted(series.items())
                    for row in roll_up_location(location, checks, minutes, confirmations)]
    latencies: dict[int, list[float]] = defaultdict(list)
    for checks in series.values():
        for check in checks:
            if check.minute in minutes:
                latencies[check.minute].append(check.latency_ms)
    by_minute: dict[int, list[LocationMinuteRollup]] = defaultdict(list)
    for row in per_location:
        by_minute[row.minute].append(row)
    combined = []
    for minute, rows in sorted(by_minute.items()):
        down = sum(row.status is MinuteVerdict.DOWN for row in rows)
        combined.append(ComponentMinuteRollup(
            minute=minute, checks=sum(r.checks for r in rows),
            failures=sum(r.failures for r in rows), degraded=sum(r.degraded for r in rows),
            locations=len(rows), locations_down=down, latency=latency_of(latencies[minute]),
            verdict=quorum_verdict(len(rows), down)))
    return per_location, combined
