"""Small typed builders for SLA tests: checks at minute offsets, and their JSONL lines."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sla.model import Check

OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)
COMPONENT = "orders"
REGION = "europe-west1.gcp"


def at(minute: int, second: int = 0) -> datetime:
    """A moment `minute` minutes (and `second` seconds) after 2026-10-01T00:00Z."""
    return OCTOBER + timedelta(minutes=minute, seconds=second)


def check(location: str, when: datetime, ok: bool, *, component: str = COMPONENT,
          region: str = REGION) -> Check:
    return Check(component, region, location, when, ok, latency_ms=5000 if not ok else 50)


def every_30s(location: str, first_minute: int, end_minute: int, ok: bool, *,
              component: str = COMPONENT, region: str = REGION) -> list[Check]:
    """A location's checks at :00 and :30 of each minute in `[first_minute, end_minute)`."""
    return [check(location, at(minute, second), ok, component=component, region=region)
            for minute in range(first_minute, end_minute) for second in (0, 30)]


def check_line(item: Check) -> bytes:
    """The check as the probes write it (the canonical line shape)."""
    text = item.at.isoformat().replace("+00:00", "Z")
    return (json.dumps({"component": item.component, "region": item.region,
                        "location": item.location, "at": text, "ok": item.ok,
                        "latency_ms": item.latency_ms}) + "\n").encode()


def write_lines(path: Path, checks: Iterable[Check]) -> None:
    """Write checks to a JSONL file."""
    path.write_bytes(b"".join(check_line(item) for item in checks))
