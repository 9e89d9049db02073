"""One check (one probe run) as a value: what the runner produces, the agent spools and
`/api/v1/ingest` accepts. Its id is unique, so a batch sent twice is stored once."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.errors import BellwetherError


class InvalidCheck(BellwetherError):
    code = "invalid_check"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one probe run from one location.

    `intended_at` is the scheduler's slot and `started_at` when the request was really sent
    (the SLA's `at`); their difference is the scheduler lag. `timings` hold connect, TLS,
    first-byte and total milliseconds; `figures` hold probe-specific numbers such as the
    transaction's `message_lag_ms` or a certificate's `tls_days_left`.
    """

    probe: str
    component: str
    region: str
    location: str
    intended_at: datetime
    started_at: datetime
    ok: bool
    latency_ms: float
    interval_s: int = 30
    degraded: bool = False
    status_code: int | None = None
    error: str | None = None
    warning: str | None = None
    timings: Mapping[str, float] = field(default_factory=dict)
    figures: Mapping[str, float] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "probe": self.probe, "component": self.component,
                "region": self.region, "location": self.location,
                "intended_at": self.intended_at.isoformat(),
                "started_at": self.started_at.isoformat(), "ok": self.ok,
                "latency_ms": round(self.latency_ms, 3), "interval_s": self.interval_s,
                "degraded": self.degraded, "status_code": self.status_code,
                "error": self.error, "warning": self.warning, "timings": dict(self.timings),
                "figures": dict(self.figures)}


def _time(raw: Mapping[str, Any], key: str) -> datetime:
    value = raw.get(key)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise InvalidCheck(f"{key!r} must be an ISO 8601 time, not {value!r}") from None
    if parsed.tzinfo is None:
        raise InvalidCheck(f"{key!r} must carry a time zone (Z or an offset)")
    return parsed


def _text(raw: Mapping[str, Any], key: str, max_len: int = 120) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise InvalidCheck(f"{key!r} must be a string of 1..{max_len} characters")
    return value


def _numbers(raw: Mapping[str, Any], key: str) -> dict[str, float]:
    value = raw.get(key) or {}
    if not isinstance(value, Mapping) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value.values()):
        raise InvalidCheck(f"{key!r} must map names to numbers")
    return {str(k): float(v) for k, v in value.items()}


def check_from_json(raw: Any) -> CheckResult:
    """A check from its JSON form; says which field is wrong."""
    if not isinstance(raw, Mapping):
        raise InvalidCheck("a check must be a JSON object")
    ok, latency = raw.get("ok"), raw.get("latency_ms")
    if not isinstance(ok, bool):
        raise InvalidCheck("'ok' must be true or false")
    if isinstance(latency, bool) or not isinstance(latency, int | float) or latency < 0:
        raise InvalidCheck("'latency_ms' must be a number ≥ 0")
    status, interval = raw.get("status_code"), raw.get("interval_s", 30)
    if status is not None and (not isinstance(status, int) or isinstance(status, bool)):
        raise InvalidCheck("'status_code' must be a whole number or null")
    if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
        raise InvalidCheck("'interval_s' must be a whole number ≥ 1")
    check_id = _text(raw, "id", 64)
    if not all(c in "0123456789abcdefABCDEF-" for c in check_id):
        raise InvalidCheck("'id' must be a hexadecimal id")
    return CheckResult(
        id=check_id, probe=_text(raw, "probe"), component=_text(raw, "component"),
        region=_text(raw, "region"), location=_text(raw, "location", 64),
        intended_at=_time(raw, "intended_at"), started_at=_time(raw, "started_at"), ok=ok,
        latency_ms=float(latency), interval_s=interval, degraded=bool(raw.get("degraded")),
        status_code=status, error=_optional(raw, "error"), warning=_optional(raw, "warning"),
        timings=_numbers(raw, "timings"), figures=_numbers(raw, "figures"))


def _optional(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidCheck(f"{key!r} must be a string or null")
    return value[:500]
