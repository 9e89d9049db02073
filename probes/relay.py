"""Re-checks relayed between agents: "confirm from other locations" across processes (pure).

In `bellwether up` one scheduler runs every location, and the first failure of a run makes
the pair's other locations re-check at once (`probes.locations.Confirmations`). Each
`bellwether agent` is one location and hears nothing of the others, so the server relays:

1. At ingest, a failing check that starts a failure run at its location (the check before
   it from there passed, or there was none: `starts_failure_run`, the rule `Confirmations`
   follows too) records a `RecheckRequest` for its (component, region), naming that
   location, live for one probe interval: after that every location has checked at its own
   slot anyway. A check older than that (a spool's backlog) is old news and asks nothing.
2. Every ingest answer to an agent carries the live requests of the other locations; an
   agent with nothing to send asks with an empty batch every few seconds.
3. The agent acts on each request once (by id), through its scheduler: the pair's jobs that
   are not failing already and have no re-check due run at once (`Confirmations.asked`).

No Flask, no database: time is an argument.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from probes.checks import CheckResult

#: At most this long a request stays live: a probe checked hourly is not re-checked on
#: the strength of a failure seen long ago.
MAX_LIVE_S = 600
#: A probe location's check: (probe, location).
Job = tuple[str, str]


def starts_failure_run(ok: bool, previous_ok: bool | None) -> bool:
    """Whether a check opens a failure run at its location: it failed, and the check before
    it from there passed (or there was none).

    >>> starts_failure_run(False, True), starts_failure_run(False, None)
    (True, True)
    >>> starts_failure_run(False, False), starts_failure_run(True, True)
    (False, False)
    """
    return not ok and previous_ok is not False


@dataclass(frozen=True, slots=True)
class RecheckRequest:
    """Re-check (component, region): asked by a failure seen at `location`, live until
    `expires_at`. Its id is the failing check's, so a batch sent twice asks once.

    >>> at = datetime.fromisoformat("2026-12-03T20:00:00+00:00")
    >>> asked = RecheckRequest("c1", "orders", "eu", "loc-a", at)
    >>> request_from_json(asked.to_json()) == asked
    True
    """

    id: str
    component: str
    region: str
    location: str
    expires_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "component": self.component, "region": self.region,
                "location": self.location, "expires_at": self.expires_at.isoformat()}


def request_from_json(raw: Any) -> RecheckRequest | None:
    """A request as an ingest answer carries it; None for anything else (a newer server's
    shape is skipped, never fatal to the agent)."""
    if not isinstance(raw, Mapping):
        return None
    id_, component, region, location = (raw.get(name) for name in
                                         ("id", "component", "region", "location"))
    try:
        expires_at = datetime.fromisoformat(str(raw.get("expires_at")))
    except ValueError:
        return None
    texts = (id_, component, region, location)
    if expires_at.tzinfo is None or not all(isinstance(t, str) and t for t in texts):
        return None
    return RecheckRequest(str(id_), str(component), str(region), str(location), expires_at)


def is_fresh(check: CheckResult, now: datetime) -> bool:
    """Whether `check` is news at `now`: started within its own interval (and the cap)."""
    return now - check.started_at <= timedelta(seconds=min(check.interval_s, MAX_LIVE_S))


def jobs_to_look_up(checks: Iterable[CheckResult], now: datetime) -> dict[Job, CheckResult]:
    """The jobs whose stored past decides whether a check of this batch starts a run: those
    with a fresh failure, each with its earliest check in the batch (look before it)."""
    failing = {(c.probe, c.location) for c in checks if not c.ok and is_fresh(c, now)}
    firsts: dict[Job, CheckResult] = {}
    for check in checks:
        job = (check.probe, check.location)
        if job in failing and (job not in firsts
                               or check.started_at < firsts[job].started_at):
            firsts[job] = check
    return firsts


def requests_for(checks: Iterable[CheckResult], before: Mapping[Job, bool],
                 now: datetime) -> list[RecheckRequest]:
    """The re-check requests a batch asks for. `before`: whether each job's latest check
    stored before the batch passed (a job left out has none); checks of one job within the
    batch follow each other by their start."""
    last: dict[Job, bool | None] = dict(before)
    asked = []
    for check in sorted(checks, key=lambda c: c.started_at):
        job = (check.probe, check.location)
        previous, last[job] = last.get(job), check.ok
        if starts_failure_run(check.ok, previous) and is_fresh(check, now):
            live = timedelta(seconds=min(check.interval_s, MAX_LIVE_S))
            asked.append(RecheckRequest(check.id, check.component, check.region,
                                        check.location, now + live))
    return asked


class HeardRequests:
    """The requests an agent has acted on, so that each is acted on once however many
    answers carry it (the server lists a request until it expires). Keeps the newest
    `capacity` ids: more than any one answer carries (`probes.store.RELAYED_AT_MOST`).

    >>> at = datetime.fromisoformat("2026-12-03T20:00:00+00:00")
    >>> heard, asked = HeardRequests(), RecheckRequest("c1", "orders", "eu", "loc-a", at)
    >>> len(heard.new([asked, asked])), len(heard.new([asked]))
    (1, 0)
    """

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._ids: dict[str, None] = {}  # insertion order: the oldest first

    def new(self, requests: Iterable[RecheckRequest]) -> list[RecheckRequest]:
        """The requests not acted on yet, now remembered as acted on."""
        fresh = []
        for asked in requests:
            if asked.id not in self._ids:
                self._ids[asked.id] = None
                fresh.append(asked)
        while len(self._ids) > self.capacity:
            del self._ids[next(iter(self._ids))]
        return fresh
