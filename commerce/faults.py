"""The fault model: what can be broken, and what a set of active faults means for a request.

Pure: values in, answers out. The store keeps faults; the fleet and the zone apps ask a
`FaultView` built from the active ones.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from commerce.catalog import SERVICES, ZONES
from core.errors import BellwetherError


class FaultKind(enum.StrEnum):
    REGION_DOWN = "region_down"
    ZONE_DOWN = "zone_down"
    SERVICE_DOWN = "service_down"
    AUTH_DOWN = "auth_down"
    LATENCY = "latency"
    ERROR_RATE = "error_rate"
    PARTITION = "partition"
    DATABASE_DOWN = "database_down"


class InvalidFault(BellwetherError):
    code = "invalid_fault"


#: What each kind needs besides its kind (the rest is optional scope).
REQUIRED: dict[FaultKind, tuple[str, ...]] = {
    FaultKind.REGION_DOWN: ("region",),
    FaultKind.ZONE_DOWN: ("region", "zone"),
    FaultKind.SERVICE_DOWN: ("region", "service"),
    FaultKind.AUTH_DOWN: ("region",),
    FaultKind.LATENCY: ("value",),
    FaultKind.ERROR_RATE: ("value",),
    FaultKind.PARTITION: ("region", "location"),
    FaultKind.DATABASE_DOWN: ("region",),
}

MAX_LATENCY_MS = 120_000


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """A fault as asked for, checked against the catalogue.

    >>> FaultSpec(kind=FaultKind.ZONE_DOWN, region="europe-west1.gcp", zone="b")
    """

    kind: FaultKind
    region: str | None = None
    zone: str | None = None
    service: str | None = None
    location: str | None = None
    value: float | None = None
    duration_s: int | None = None


@dataclass(frozen=True, slots=True)
class Fault:
    """A stored fault: a spec with an id and the times it is active."""

    id: int
    spec: FaultSpec
    created_at: datetime
    expires_at: datetime | None

    def active_at(self, now: datetime) -> bool:
        return self.expires_at is None or now < self.expires_at

    def as_json(self) -> dict[str, Any]:
        spec = self.spec
        return {"id": self.id, "kind": spec.kind.value, "region": spec.region, "zone": spec.zone,
                "service": spec.service, "location": spec.location, "value": spec.value,
                "duration_s": spec.duration_s, "created_at": self.created_at.isoformat(),
                "expires_at": self.expires_at.isoformat() if self.expires_at else None}


def _text(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidFault(f"'{key}' must be a non-empty string")
    return value


def _number(body: Mapping[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidFault(f"'{key}' must be a number")
    return float(value)


def parse_fault(body: Mapping[str, Any], regions: Iterable[str]) -> FaultSpec:
    """Check a request body against the contract and the catalogue; say what is wrong."""
    raw_kind = body.get("kind")
    try:
        kind = FaultKind(str(raw_kind))
    except ValueError:
        kinds = ", ".join(k.value for k in FaultKind)
        raise InvalidFault(f"'kind' must be one of {kinds}, not {raw_kind!r}") from None
    duration = _number(body, "duration_s")
    spec = FaultSpec(kind=kind, region=_text(body, "region"), zone=_text(body, "zone"),
                     service=_text(body, "service"), location=_text(body, "location"),
                     value=_number(body, "value"),
                     duration_s=None if duration is None else int(duration))
    _check_scope(spec, tuple(regions))
    return spec


def _check_scope(spec: FaultSpec, regions: tuple[str, ...]) -> None:
    for key in REQUIRED[spec.kind]:
        if getattr(spec, key) is None:
            raise InvalidFault(f"a {spec.kind.value} fault needs '{key}'")
    if spec.region is not None and spec.region not in regions:
        raise InvalidFault(f"unknown region {spec.region!r}; regions: {', '.join(regions)}")
    if spec.zone is not None and spec.zone not in ZONES:
        raise InvalidFault(f"unknown zone {spec.zone!r}; zones: {', '.join(ZONES)}")
    if spec.service is not None and spec.service not in SERVICES:
        raise InvalidFault(f"unknown service {spec.service!r}; services: {', '.join(SERVICES)}")
    if spec.duration_s is not None and spec.duration_s < 1:
        raise InvalidFault("'duration_s' must be at least 1 second")
    if spec.kind is FaultKind.LATENCY and not 0 < (spec.value or 0) <= MAX_LATENCY_MS:
        raise InvalidFault(f"a latency fault's value is the added ms, 1..{MAX_LATENCY_MS}")
    if spec.kind is FaultKind.ERROR_RATE and not 0 <= (spec.value or 0) <= 1:
        raise InvalidFault("an error_rate fault's value is a fraction from 0 to 1")


def expiry(spec: FaultSpec, now: datetime) -> datetime | None:
    return now + timedelta(seconds=spec.duration_s) if spec.duration_s else None


def _matches(spec: FaultSpec, region: str, zone: str | None, service: str | None) -> bool:
    return ((spec.region is None or spec.region == region)
            and (spec.zone is None or zone is None or spec.zone == zone)
            and (spec.service is None or service is None or spec.service == service))


@dataclass(frozen=True)
class FaultView:
    """The active faults at one moment, answering what they mean for a listener or request."""

    faults: tuple[Fault, ...] = ()

    @classmethod
    def at(cls, faults: Iterable[Fault], now: datetime) -> FaultView:
        return cls(tuple(f for f in faults if f.active_at(now)))

    def _of(self, kind: FaultKind) -> list[FaultSpec]:
        return [f.spec for f in self.faults if f.spec.kind is kind]

    def region_down(self, region: str) -> bool:
        return any(s.region == region for s in self._of(FaultKind.REGION_DOWN))

    def zone_down(self, region: str, zone: str) -> bool:
        return self.region_down(region) or any(
            s.region == region and s.zone == zone for s in self._of(FaultKind.ZONE_DOWN))

    def service_down(self, region: str, service: str) -> bool:
        return any(s.region == region and s.service == service
                   for s in self._of(FaultKind.SERVICE_DOWN))

    def auth_down(self, region: str) -> bool:
        return self.service_down(region, "auth") or any(
            s.region == region for s in self._of(FaultKind.AUTH_DOWN))

    def database_down(self, region: str) -> bool:
        return any(s.region == region for s in self._of(FaultKind.DATABASE_DOWN))

    def partitioned(self, location: str, region: str) -> bool:
        return any(s.region == region and s.location == location
                   for s in self._of(FaultKind.PARTITION))

    def added_latency_ms(self, region: str, zone: str | None, service: str | None) -> float:
        return sum(s.value or 0.0 for s in self._of(FaultKind.LATENCY)
                   if _matches(s, region, zone, service))

    def error_rate(self, region: str, zone: str | None, service: str | None) -> float:
        """The chance a request fails: independent faults combine as 1 − Π(1 − p)."""
        keep = 1.0
        for spec in self._of(FaultKind.ERROR_RATE):
            if _matches(spec, region, zone, service):
                keep *= 1.0 - (spec.value or 0.0)
        return 1.0 - keep
