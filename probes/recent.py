"""The evaluator's memory of recent checks: each location's last few, per (component, region).

Evaluation runs every second; reading every pair's history each time (13 intervals of the
longest probe: 13 days of checks for a daily TLS probe) made a pass cost as much as the
history. Instead a pass takes in only the checks that arrived since the last one (`take`),
and this memory keeps what the rules look at: a location's last `keep` checks and when it
last reported. It is rebuilt from the database when it is new or has fallen behind, so any
worker can take the next pass (pure: no database here).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from probes.evaluate import Observed

Pair = tuple[str, str]


@dataclass(frozen=True, slots=True)
class SeenCheck:
    """One stored check, as much of it as evaluation needs."""

    id: str
    component: str
    region: str
    location: str
    started_at: datetime
    received_at: datetime
    ok: bool
    degraded: bool
    interval_s: int


@dataclass
class RecentChecks:
    """Per pair and location, the last `keep` checks in time order; when to read from next.

    `watermark` is the latest `received_at` taken in: the next pass asks for checks received
    since shortly before it (`OVERLAP`), and the ids already taken keep a re-read from
    counting twice.
    """

    keep: int
    loaded_at: datetime
    series: dict[Pair, dict[str, list[tuple[datetime, bool, str, Observed]]]] = field(
        default_factory=dict)
    intervals: dict[Pair, int] = field(default_factory=dict)
    listed_since: dict[Pair, datetime] = field(default_factory=dict)
    watermark: datetime | None = None
    last_pass: datetime | None = None
    #: The newest check received before the pipeline stalled (None: it is not stalled),
    #: and when the last stall ended (gaps are given their grace again from then).
    stall: datetime | None = None
    stall_ended_at: datetime | None = None
    #: The locations whose agents are all silent or stopped, and since when they are these:
    #: a gap another root explained gets its grace again from then.
    absent: frozenset[str] = frozenset()
    absent_since: datetime | None = None
    _ids: dict[str, datetime] = field(default_factory=dict)

    #: How far before the watermark a pass reads again (transactions commit a little after
    #: they stamp `received_at`).
    OVERLAP = timedelta(seconds=30)
    #: A check that arrives later than this after it started (a drained agent spool) counts
    #: for the SLA, not for the live state; a memory older than this is rebuilt.
    LOOKBACK = timedelta(minutes=2)

    def read_from(self) -> datetime | None:
        """The `received_at` to read from on the next pass (None: read everything recent)."""
        return None if self.watermark is None else self.watermark - self.OVERLAP

    def is_stale(self, now: datetime) -> bool:
        """Whether this memory missed too much to be caught up incrementally."""
        return self.last_pass is None or now - self.last_pass > self.LOOKBACK / 2 \
            or now < self.last_pass

    def take(self, checks: Iterable[SeenCheck]) -> int:
        """Add new checks (ids already taken are skipped); how many were new."""
        added = 0
        for check in checks:
            if check.id in self._ids:
                continue
            self._ids[check.id] = check.received_at
            pair = (check.component, check.region)
            per_location = self.series.setdefault(pair, {}).setdefault(check.location, [])
            bisect.insort(per_location, (check.started_at, check.ok, check.id,
                                         Observed(check.ok, check.degraded)))
            del per_location[:-self.keep]
            self.intervals[pair] = check.interval_s
            if self.watermark is None or check.received_at > self.watermark:
                self.watermark = check.received_at
            added += 1
        if self.watermark is not None:
            floor = self.watermark - self.OVERLAP - self.LOOKBACK
            self._ids = {i: at for i, at in self._ids.items() if at >= floor}
        return added

    def quiet_from(self) -> datetime | None:
        """Since when no other root explains a gap (a stall ended, agents left or came back)."""
        known = [at for at in (self.stall_ended_at, self.absent_since) if at is not None]
        return max(known, default=None)

    def note_absent(self, absent: frozenset[str], now: datetime) -> None:
        if absent != self.absent:
            self.absent, self.absent_since = absent, now

    def last_seen(self, pair: Pair) -> dict[str, datetime]:
        """When each location last checked the pair."""
        return {location: checks[-1][0] for location, checks in self.series.get(pair, {}).items()
                if checks}

    def fresh(self, pair: Pair, after: datetime) -> dict[str, list[Observed]]:
        """The checks of each location whose last check started at or after `after`."""
        return {location: [c[3] for c in checks]
                for location, checks in self.series.get(pair, {}).items()
                if checks and checks[-1][0] >= after}

    def forget(self, pair: Pair, before: datetime) -> None:
        """Drop locations whose last check of the pair is older than `before`."""
        locations = self.series.get(pair, {})
        for location in [loc for loc, checks in locations.items()
                         if not checks or checks[-1][0] < before]:
            del locations[location]

    def listed(self, pair: Pair, now: datetime) -> datetime:
        """When this memory first saw the pair listed for evaluation."""
        return self.listed_since.setdefault(pair, now)
