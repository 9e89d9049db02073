"""Maintenance windows as values (pure): what a window covers, when, and how it shows.

A window covers `[start, end)`, or up to its cancellation when it was cancelled while
running. Each scope is a (component, region) where an empty string means all of them.

The SLA spec ("Facts it is built on") excludes only planned servicing announced at least
seven days ahead. A window announced later is accepted only with a stated reason
(`short_notice_reason`): the status page shows it as maintenance, but the SLA does not
exclude it, so its minutes keep the verdicts the checks give them (down minutes count as
downtime). No window may start in the past or cover minutes already booked as downtime.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from core.errors import BellwetherError
from sla.model import MaintenanceWindow
from status.declared import COMPONENT_NAME, text

MAX_LENGTH = timedelta(days=7)
#: The SLA spec (docs/reference/sla-spec.md, "Facts it is built on"): planned servicing is
#: announced at least seven days ahead on the status page, and only such windows are
#: excluded from the SLA. A window with less notice needs a reason and is not excluded.
NOTICE = timedelta(days=7)
MAX_REASON = 2000
#: Clock skew between the caller and the server (and a form's whole minutes) forgiven on
#: both checks; never enough to lay a window over minutes that have been measured.
CLOCK_SKEW = timedelta(minutes=1)
MAX_SCOPES = 500


class InvalidMaintenance(BellwetherError):
    code = "invalid_maintenance"


@dataclass(frozen=True, slots=True)
class Window:
    """A scheduled maintenance window.

    >>> from datetime import UTC
    >>> start = datetime(2026, 10, 10, 2, tzinfo=UTC)
    >>> w = Window(1, "DB upgrade", "", start, start + timedelta(hours=1), (("orders", ""),))
    >>> covers(w, "orders", "us-central1.gcp", start), covers(w, "carts", "us-central1.gcp", start)
    (True, False)
    """

    id: int
    title: str
    message: str
    start: datetime
    end: datetime
    scopes: tuple[tuple[str, str], ...]
    cancelled_at: datetime | None = None
    short_notice_reason: str | None = None

    @property
    def short_notice(self) -> bool:
        """Announced with less than NOTICE: shown as maintenance, not excluded from the SLA."""
        return self.short_notice_reason is not None

    @property
    def effective_end(self) -> datetime:
        """When the window really ends: its end, or its cancellation if that came first."""
        if self.cancelled_at is None:
            return self.end
        return max(self.start, min(self.end, self.cancelled_at))

    @property
    def components(self) -> list[str]:
        return sorted({c for c, _ in self.scopes if c})

    @property
    def regions(self) -> list[str]:
        return sorted({r for _, r in self.scopes if r})


def scope_matches(scope: tuple[str, str], component: str, region: str) -> bool:
    return scope[0] in ("", component) and scope[1] in ("", region)


def covers(window: Window, component: str, region: str, at: datetime) -> bool:
    """Whether the window puts this component in this region under maintenance at `at`."""
    if not window.start <= at < window.effective_end:
        return False
    return any(scope_matches(scope, component, region) for scope in window.scopes)


def displayed_state(state: str, component: str, region: str, windows: Iterable[Window],
                    at: datetime) -> str:
    """The state the status page shows: `under_maintenance` while a window covers it."""
    if any(covers(window, component, region, at) for window in windows):
        return "under_maintenance"
    return state


def phase(window: Window, now: datetime) -> str:
    """scheduled, in_progress, completed or cancelled."""
    if window.cancelled_at is not None and window.cancelled_at < window.end:
        return "cancelled" if now >= window.cancelled_at else "scheduled"
    if now < window.start:
        return "scheduled"
    return "in_progress" if now < window.end else "completed"


def to_sla_windows(window: Window) -> list[MaintenanceWindow]:
    """The SLA's view: one MaintenanceWindow per scope; none if cancelled before it began,
    and none for a short-notice window (the spec excludes only planned servicing announced
    seven days ahead, so its minutes are judged by their checks like any other).

    >>> start = datetime(2026, 10, 10, 2, tzinfo=UTC)
    >>> w = Window(1, "DB", "", start, start + timedelta(hours=1), (("orders", ""),))
    >>> from dataclasses import replace
    >>> len(to_sla_windows(w)), to_sla_windows(replace(w, short_notice_reason="CVE fix"))
    (1, [])
    """
    if window.effective_end <= window.start or window.short_notice:
        return []
    return [MaintenanceWindow(window.start, window.effective_end,
                              frozenset({c}) if c else frozenset(),
                              frozenset({r}) if r else frozenset())
            for c, r in window.scopes]


def window_json(window: Window, now: datetime) -> dict[str, Any]:
    return {"id": window.id, "title": window.title, "message": window.message,
            "starts_at": window.start.isoformat(), "ends_at": window.end.isoformat(),
            "cancelled_at": window.cancelled_at.isoformat() if window.cancelled_at else None,
            "status": phase(window, now), "components": window.components,
            "regions": window.regions, "short_notice_reason": window.short_notice_reason,
            "excluded_from_sla": not window.short_notice}


# --- input ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class WindowInput:
    """A window to schedule, checked; empty `components` or `regions` mean all of them."""

    title: str
    message: str
    start: datetime
    end: datetime
    components: tuple[str, ...]
    regions: tuple[str, ...]
    short_notice_reason: str | None = None

    @property
    def scopes(self) -> list[tuple[str, str]]:
        return [(c, r) for c in self.components or ("",) for r in self.regions or ("",)]

    def covers(self, component: str, region: str) -> bool:
        return any(scope_matches(scope, component, region) for scope in self.scopes)


def _time(body: Mapping[str, Any], key: str) -> datetime:
    raw = body.get(key)
    if not isinstance(raw, str):
        raise InvalidMaintenance(f"'{key}' must be an ISO 8601 time with a time zone")
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidMaintenance(f"'{key}' is not an ISO 8601 time: {raw[:40]!r}") from None
    if value.utcoffset() is None:
        raise InvalidMaintenance(f"'{key}' needs a time zone (e.g. 2026-10-10T02:00:00Z)")
    return value


def _names(raw: Any, key: str, allowed: Collection[str] | None) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise InvalidMaintenance(f"'{key}' must be a list of names (empty means all)")
    for item in raw:
        if allowed is not None and item not in allowed:
            raise InvalidMaintenance(f"'{key}': unknown {key[:-1]} {item[:120]!r}")
        if allowed is None and not COMPONENT_NAME.fullmatch(item):
            raise InvalidMaintenance(f"'{key}': {item[:120]!r} is not a component name")
    return tuple(sorted(set(raw)))


def earliest_start(now: datetime) -> datetime:
    """The earliest start a window scheduled at `now` may have (NOTICE ahead)."""
    return now + NOTICE


def short_notice(start: datetime, now: datetime) -> bool:
    """Whether a window starting at `start` is announced at `now` with less than NOTICE."""
    return start < earliest_start(now) - CLOCK_SKEW


def check_notice(start: datetime, now: datetime, reason: str = "") -> None:
    """Refuse a start in the past, or one announced with less than NOTICE (spec: planned
    servicing is announced seven days ahead) without a reason, saying what to do.

    >>> from datetime import UTC
    >>> now = datetime(2026, 10, 1, 12, tzinfo=UTC)
    >>> check_notice(now + timedelta(days=7), now) is None
    True
    >>> check_notice(now + timedelta(hours=2), now, "security fix") is None
    True
    """
    if start < now - CLOCK_SKEW:
        raise InvalidMaintenance(
            f"'starts_at' ({start.astimezone(UTC):%Y-%m-%d %H:%M} UTC) lies in the past; "
            "maintenance cannot be scheduled after the fact, nor cover minutes already "
            "measured", code="maintenance_in_the_past")
    if short_notice(start, now) and not reason:
        raise InvalidMaintenance(
            f"a window starting before {earliest_start(now).astimezone(UTC):%Y-%m-%d %H:%M} "
            f"UTC is announced with less than {NOTICE.days} days' notice: give the reason "
            "for the short notice ('short_notice_reason'). Such a window is shown as "
            "maintenance but is not excluded from the SLA (only planned servicing "
            "announced that early is): its minutes count as downtime when the checks fail",
            code="maintenance_short_notice")


def parse_window(body: Mapping[str, Any], regions: Collection[str], now: datetime,
                 ) -> WindowInput:
    """A window from a JSON-like body, or InvalidMaintenance saying what to fix."""
    start, end = _time(body, "starts_at"), _time(body, "ends_at")
    if end <= start:
        raise InvalidMaintenance("'ends_at' must be after 'starts_at'")
    reason = text(body, "short_notice_reason", max_len=MAX_REASON, required=False,
                  error=InvalidMaintenance)
    check_notice(start, now, reason)
    if end - start > MAX_LENGTH:
        raise InvalidMaintenance("a maintenance window lasts at most 7 days")
    window = WindowInput(
        title=text(body, "title", max_len=200, error=InvalidMaintenance),
        message=text(body, "message", max_len=10_000, required=False,
                     error=InvalidMaintenance),
        start=start, end=end,
        components=_names(body.get("components"), "components", None),
        regions=_names(body.get("regions"), "regions", regions),
        # A reason given with enough notice is not kept: the window is plainly excluded.
        short_notice_reason=reason if short_notice(start, now) else None)
    if len(window.scopes) > MAX_SCOPES:
        raise InvalidMaintenance(f"a window covers at most {MAX_SCOPES} component-regions")
    return window


# --- downtime already booked ---------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Booked:
    """Minutes of a (component, region) already booked as downtime: an incident's affected
    span (`end` None: still going, booked up to now) or stored down minutes."""

    component: str
    region: str
    start: datetime
    end: datetime | None
    source: str


def check_not_over_downtime(window: WindowInput, booked: Iterable[Booked],
                            now: datetime) -> None:
    """Refuse a window that covers minutes already booked as downtime (an incident's or
    measured down minutes), so no outage is turned into maintenance after the fact. A span
    still going counts up to the minute in progress (`now` + CLOCK_SKEW).

    >>> now = datetime(2026, 10, 1, 12, tzinfo=UTC)
    >>> w = WindowInput("Fix", "", now, now + timedelta(hours=1), ("orders",), (), "urgent")
    >>> spans = [Booked("orders", "eu", now - timedelta(minutes=5), None, "incident #3")]
    >>> try:
    ...     check_not_over_downtime(w, spans, now)
    ... except InvalidMaintenance as exc:
    ...     print(exc.code, exc.detail[:60])
    maintenance_over_downtime orders in eu is booked as downtime from 2026-10-01 11:55 UTC
    """
    for span in sorted(booked, key=lambda b: (b.start, b.component, b.region)):
        end = span.end if span.end is not None else now + CLOCK_SKEW
        if not (span.start < window.end and window.start < end):
            continue
        if not window.covers(span.component, span.region):
            continue
        until = ("still going" if span.end is None
                 else f"until {span.end.astimezone(UTC):%Y-%m-%d %H:%M} UTC")
        raise InvalidMaintenance(
            f"{span.component} in {span.region} is booked as downtime from "
            f"{span.start.astimezone(UTC):%Y-%m-%d %H:%M} UTC ({span.source}, {until}): a "
            "maintenance window cannot cover minutes already booked as downtime; start it "
            "after that (an outage is an incident, not maintenance)",
            code="maintenance_over_downtime")
