"""TLS certificate expiry: which certificates to warn about, and the low-urgency pages they
make (pure: no database, no network; `now` and the readings are arguments).

A `tls` probe's checks carry the certificate's days left (`tls_days_left`) and its exact
expiry (`tls_not_after`, seconds since the epoch; checks from before it was recorded have
only the days left, and the expiry is estimated from them). A certificate within
`tls_warn_days` is listed for admins and paged to on-call once per threshold it reaches
(14, 7 and 1 days by default), as a `warning` on the Tier 2 (low-urgency) routing key: an
expiring certificate is a chore with a deadline, not an outage. One PagerDuty alert per
probe (`bellwether-tls-<probe>`); each threshold of each certificate has its own outbox key,
so it is sent exactly once, and a renewed certificate resolves the alert.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from alerts.outbox import Notice

#: Days left at which on-call hears of a certificate (those within `tls_warn_days`).
THRESHOLDS = (14, 7, 1)
#: Two estimated expiries closer than this are the same certificate.
SAME_CERTIFICATE = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class TlsProbe:
    """A probe of kind `tls`: what a listing and a page name."""

    name: str
    component: str
    region: str
    target: str
    interval_s: int = 30


@dataclass(frozen=True, slots=True)
class Reading:
    """What one check saw of a probe's certificate."""

    probe: str
    checked_at: datetime
    location: str
    days_left: float
    not_after: datetime | None = None

    @property
    def expires_at(self) -> datetime:
        """The certificate's expiry: exact when the check recorded it, else estimated."""
        if self.not_after is not None:
            return self.not_after
        return self.checked_at + timedelta(days=self.days_left)

    @property
    def certificate(self) -> str:
        """A name for this certificate in outbox keys: its expiry to the second, or the
        estimated expiry's day for a check that recorded only the days left."""
        if self.not_after is not None:
            return self.not_after.strftime("%Y%m%dT%H%M%SZ")
        return "day-" + self.expires_at.strftime("%Y%m%d")


def reading_from_check(probe: str, checked_at: datetime, location: str,
                       figures: Mapping[str, Any]) -> Reading | None:
    """The certificate a check saw, or None for a check that saw none (it failed)."""
    days_left = figures.get("tls_days_left")
    if not isinstance(days_left, int | float):
        return None
    stamp = figures.get("tls_not_after")
    not_after = (datetime.fromtimestamp(stamp, UTC) if isinstance(stamp, int | float)
                 else None)
    return Reading(probe, checked_at, location, float(days_left), not_after)


def same_certificate(a: Reading, b: Reading) -> bool:
    if a.not_after is not None and b.not_after is not None:
        return a.not_after == b.not_after
    return abs(a.expires_at - b.expires_at) < SAME_CERTIFICATE


def thresholds(warn_days: int) -> tuple[int, ...]:
    """The thresholds in force, highest first: `warn_days` itself and those of
    `THRESHOLDS` within it.

    >>> thresholds(14), thresholds(30), thresholds(5), thresholds(0)
    ((14, 7, 1), (30, 14, 7, 1), (5, 1), ())
    """
    return tuple(sorted({t for t in (warn_days, *THRESHOLDS) if 1 <= t <= warn_days},
                        reverse=True))


def threshold_reached(days_left: float, warn_days: int) -> int | None:
    """The lowest threshold a certificate with `days_left` has reached, or None.

    >>> threshold_reached(20.0, 14), threshold_reached(13.9, 14), threshold_reached(0.5, 14)
    (None, 14, 1)
    """
    reached = [t for t in thresholds(warn_days) if days_left <= t]
    return min(reached) if reached else None


@dataclass(frozen=True, slots=True)
class Decision:
    """What to tell on-call about one probe: trigger at a threshold, or resolve because the
    certificate that was warned about has been replaced. `certificate` names the
    certificate the outbox key is for (the new one for a trigger, the old one for a
    resolve)."""

    action: str
    reading: Reading
    certificate: str
    threshold: int | None = None


def decide(readings: Sequence[Reading], warn_days: int) -> Decision | None:
    """From a probe's newest readings (newest first), what on-call should hear.

    The newest certificate within a threshold triggers for the lowest one it reached. A
    newest certificate outside every threshold resolves the alert when the certificate
    before it (the newest reading of another certificate) had reached one: it was renewed.
    """
    if not readings:
        return None
    newest = readings[0]
    threshold = threshold_reached(newest.days_left, warn_days)
    if threshold is not None:
        return Decision("trigger", newest, newest.certificate, threshold)
    previous = next((r for r in readings[1:] if not same_certificate(r, newest)), None)
    if previous is not None and threshold_reached(previous.days_left, warn_days) is not None:
        return Decision("resolve", newest, previous.certificate)
    return None


def dedup_key(probe: str) -> str:
    return f"bellwether-tls-{probe}"


def page_notices(probe: TlsProbe, decision: Decision, routing_key: str | None,
                 ) -> list[Notice]:
    """The outbox row for a decision; none without a (Tier 2) routing key.

    The key holds the probe, the certificate and the threshold (or `resolve`), so each
    threshold is paged once per certificate however often it is decided again.
    """
    if not routing_key:
        return []
    reading = decision.reading
    base = f"pd:tls-{probe.name}:{decision.certificate}"
    ordering = f"tls-{probe.name}"[:120]
    if decision.action == "resolve":
        return [Notice(key=f"{base}:resolve", channel="pagerduty", recipient=routing_key,
                       event_type="page.resolve", ordering_key=ordering,
                       payload={"action": "resolve", "dedup_key": dedup_key(probe.name)})]
    expires = reading.expires_at.isoformat()
    payload: dict[str, Any] = {
        "action": "trigger", "dedup_key": dedup_key(probe.name),
        "summary": (f"TLS certificate of {probe.target} ({probe.component} in "
                    f"{probe.region}) expires in {reading.days_left:.1f} days")[:1024],
        "severity": "warning", "source": probe.target, "component": probe.component,
        "group": probe.region, "class": "tls_expiry",
        "timestamp": reading.checked_at.isoformat(),
        "custom_details": {"probe": probe.name, "target": probe.target,
                           "days_left": reading.days_left, "threshold_days": decision.threshold,
                           "not_after": expires if reading.not_after else None,
                           "estimated_expiry": None if reading.not_after else expires,
                           "checked_at": reading.checked_at.isoformat(),
                           "location": reading.location},
    }
    return [Notice(key=f"{base}:{decision.threshold}d", channel="pagerduty",
                   recipient=routing_key, event_type="page.trigger", payload=payload,
                   ordering_key=ordering)]


@dataclass(frozen=True, slots=True)
class Certificate:
    """A row of the admin listing: a probe's newest certificate."""

    probe: TlsProbe
    reading: Reading

    def to_json(self) -> dict[str, Any]:
        reading = self.reading
        return {"probe": self.probe.name, "component": self.probe.component,
                "region": self.probe.region, "target": self.probe.target,
                "days_left": reading.days_left,
                "not_after": reading.not_after.isoformat() if reading.not_after else None,
                "estimated_expiry": reading.expires_at.isoformat(),
                "last_checked_at": reading.checked_at.isoformat(),
                "location": reading.location}


def expiring(newest: Mapping[TlsProbe, Reading], warn_days: int) -> list[Certificate]:
    """The probes whose newest certificate is within `warn_days`, soonest expiry first."""
    rows = [Certificate(probe, reading) for probe, reading in newest.items()
            if reading.days_left <= warn_days]
    return sorted(rows, key=lambda c: (c.reading.days_left, c.probe.name))
