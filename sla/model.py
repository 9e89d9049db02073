"""The values the SLA maths works on: checks, verdicts, maintenance windows, plans and lines."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from core.errors import BellwetherError


class SlaInputError(BellwetherError):
    """Input to the SLA maths that cannot be used; the message says where and why."""

    code = "bad_sla_input"


class InvalidCheck(SlaInputError):
    """A check that is not a check: a missing field, a bad `at`, a line that is not JSON."""


class InvalidWindow(SlaInputError):
    """A maintenance window that ends before it starts, or has no time zone."""


class InvalidPeriod(SlaInputError):
    """A month that is not `YYYY-MM`, or a period with no minutes."""


class UnknownPlan(SlaInputError):
    """A plan name outside the catalogue."""


class InvalidPlan(SlaInputError):
    """A plan whose target leaves no error budget (or a negative one)."""


class MinuteVerdict(StrEnum):
    """What one minute of a component in a region counts as (spec §2-§4)."""

    UP = "up"
    DOWN = "down"
    NO_DATA = "no_data"
    MAINTENANCE = "maintenance"


class PeriodBasis(StrEnum):
    """How many minutes a month has: the calendar's, or commercetools' fixed 43,200 (§8)."""

    CALENDAR = "calendar"
    FIXED_30D = "fixed_30d"


@dataclass(frozen=True, slots=True)
class Check:
    """One probe run, as the spec's §1 defines it; `at` is when the request was sent.

    >>> from datetime import UTC
    >>> at = datetime(2026, 10, 3, 12, 0, 30, tzinfo=UTC)
    >>> Check("orders", "us-central1.gcp", "loc-b", at, ok=False, latency_ms=5000).ok
    False
    """

    component: str
    region: str
    location: str
    at: datetime
    ok: bool
    latency_ms: float | None = None

    def __post_init__(self) -> None:
        if self.at.utcoffset() is None:
            raise InvalidCheck(f"check at {self.at.isoformat()} has no time zone")


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """Planned servicing `[start, end)`; empty `components` / `regions` mean all of them.

    >>> from datetime import UTC
    >>> w = MaintenanceWindow(datetime(2026, 10, 10, 2, tzinfo=UTC),
    ...                       datetime(2026, 10, 10, 3, tzinfo=UTC), frozenset({"orders"}))
    >>> w.covers("orders", "europe-west1.gcp"), w.covers("carts", "europe-west1.gcp")
    (True, False)
    """

    start: datetime
    end: datetime
    components: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.start.utcoffset() is None or self.end.utcoffset() is None:
            raise InvalidWindow("a maintenance window needs times with a time zone")
        if self.end <= self.start:
            raise InvalidWindow(
                f"maintenance window ends ({self.end.isoformat()}) "
                f"before it starts ({self.start.isoformat()})")

    def covers(self, component: str, region: str) -> bool:
        """Whether the window applies to this component in this region."""
        return ((not self.components or component in self.components)
                and (not self.regions or region in self.regions))


@dataclass(frozen=True, slots=True)
class RecoveryObjective:
    """How fast an incident must be acknowledged and resolved, and how much data may be lost."""

    ack_minutes: int
    resolve_minutes: int
    rpo_minutes: int


@dataclass(frozen=True, slots=True)
class Plan:
    """A customer's commitment: a target per tier, recovery objectives, and the month's basis.

    >>> from sla.catalog import STANDARD
    >>> STANDARD.target_for(2)
    Decimal('99.5')
    """

    name: str
    targets: Mapping[int, Decimal]
    recovery: Mapping[int, RecoveryObjective]
    period_basis: PeriodBasis = PeriodBasis.CALENDAR

    def __post_init__(self) -> None:
        for tier, target in self.targets.items():
            if not Decimal(0) < target < Decimal(100):
                raise InvalidPlan(f"plan {self.name}: Tier {tier} target {target} "
                                  "must lie between 0 and 100 (exclusive)")

    def target_for(self, tier: int) -> Decimal:
        """The uptime target (percent) for a tier; a tier the plan lacks gets Tier 1's."""
        return self.targets.get(tier, self.targets[1])

    def recovery_for(self, tier: int) -> RecoveryObjective:
        """The recovery objectives for a tier; a tier the plan lacks gets Tier 1's."""
        return self.recovery.get(tier, self.recovery[1])


@dataclass(frozen=True, slots=True)
class MinuteCounts:
    """The minutes a period's figures are computed from; longer periods add these, never pcts.

    >>> a = MinuteCounts(period=1440, maintenance=60, downtime=5, no_data=0)
    >>> (a + a).eligible
    2760
    """

    period: int
    maintenance: int
    downtime: int
    no_data: int
    single_location: int | None = None

    @property
    def eligible(self) -> int:
        """Minutes the commitment applies to: the period less maintenance (never below 0)."""
        return max(self.period - self.maintenance, 0)

    def __add__(self, other: MinuteCounts) -> MinuteCounts:
        single = (None if self.single_location is None or other.single_location is None
                  else self.single_location + other.single_location)
        return MinuteCounts(self.period + other.period, self.maintenance + other.maintenance,
                            self.downtime + other.downtime, self.no_data + other.no_data,
                            single)


@dataclass(frozen=True, slots=True)
class SlaLine:
    """One `(component, region)` row of a report: the contract's fields plus §8's extras.

    `uptime_pct` is already rounded to 4 decimals; `met` and `credit_pct` were decided on
    the exact value. `single_location_minutes` is None when the caller did not know it.
    """

    component: str
    region: str
    tier: int
    period_minutes: int
    maintenance_minutes: int
    downtime_minutes: int
    no_data_minutes: int
    eligible_minutes: int
    uptime_pct: Decimal
    target_pct: Decimal
    met: bool
    credit_pct: int
    budget_minutes: Decimal
    budget_remaining_minutes: Decimal
    coverage_pct: Decimal
    single_location_minutes: int | None = None

    def minute_counts(self) -> MinuteCounts:
        """The minutes behind this line, to add to other lines' for a longer period."""
        return MinuteCounts(self.period_minutes, self.maintenance_minutes,
                            self.downtime_minutes, self.no_data_minutes,
                            self.single_location_minutes)

    @property
    def coverage_warning(self) -> bool:
        """Monitoring gaps count as available, so a line under 99 % coverage must say so."""
        return self.coverage_pct < Decimal(99)
