"""Fast confirmation: after a failure, re-check at the retry interval until the run is
confirmed or a check passes, and ask the pair's other locations to re-check at once."""

from __future__ import annotations

import socket
from collections.abc import Sequence

from core.clock import SystemClock
from probes.checks import CheckResult
from probes.locations import Confirmations, ProbeScheduler, Recheck, spread_offset
from probes.runner import RunContext
from probes.specs import ProbeKind, ProbeSpec
from tests.support.waiting import wait_until

LOCATIONS = ("loc-a", "loc-b", "loc-c")
PAIR_JOBS = [f"search.eu@{loc}" for loc in LOCATIONS]


def test_a_failure_re_checks_at_the_retry_interval_until_the_run_is_confirmed() -> None:
    confirm = Confirmations(confirmations=3, retry_interval_s=5)
    first = confirm.after("search.eu@loc-a", False, PAIR_JOBS)
    assert first == [Recheck("search.eu@loc-a", 5),
                     Recheck("search.eu@loc-b", 0.0), Recheck("search.eu@loc-c", 0.0)]
    assert confirm.after("search.eu@loc-a", False, PAIR_JOBS) == [
        Recheck("search.eu@loc-a", 5)]
    assert confirm.after("search.eu@loc-a", False, PAIR_JOBS) == []  # confirmed: interval
    assert confirm.after("search.eu@loc-a", False, PAIR_JOBS) == []


def test_a_pass_ends_the_re_checks_and_a_new_run_starts_them_again() -> None:
    confirm = Confirmations(confirmations=2, retry_interval_s=5)
    confirm.after("search.eu@loc-a", False, PAIR_JOBS)
    assert confirm.after("search.eu@loc-a", True, PAIR_JOBS) == []
    again = confirm.after("search.eu@loc-a", False, PAIR_JOBS)
    assert Recheck("search.eu@loc-a", 5) in again


def test_locations_already_failing_are_not_asked_again() -> None:
    confirm = Confirmations(confirmations=2, retry_interval_s=5)
    confirm.after("search.eu@loc-b", False, PAIR_JOBS)
    assert confirm.after("search.eu@loc-a", False, PAIR_JOBS) == [
        Recheck("search.eu@loc-a", 5), Recheck("search.eu@loc-c", 0.0)]


class Collected:
    def __init__(self) -> None:
        self.checks: list[CheckResult] = []

    def put(self, checks: Sequence[CheckResult]) -> None:
        self.checks.extend(checks)

    def failures(self) -> dict[str, list[CheckResult]]:
        found: dict[str, list[CheckResult]] = {}
        for check in list(self.checks):
            if not check.ok:
                found.setdefault(check.location, []).append(check)
        return found


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again: connects are refused


def early_for_loc_a_only(interval_s: int) -> str:
    """A probe name whose first slot comes at once at loc-a and late at the others."""
    for i in range(10_000):
        name = f"confirm.{i}"
        offsets = [spread_offset(name, loc, interval_s) for loc in LOCATIONS]
        if offsets[0] < 0.5 and min(offsets[1:]) > interval_s / 4:
            return name
    raise AssertionError("no such name")


def test_one_location_s_failure_makes_every_location_confirm_within_seconds() -> None:
    """At a 10-minute interval, every location confirms the failure long before its own
    next slot: loc-a re-checks at the retry interval, loc-b and loc-c re-check at once."""
    interval = 600
    probe = ProbeSpec(name=early_for_loc_a_only(interval), component="search", region="r",
                      kind=ProbeKind.TCP, interval_s=interval, timeout_s=2.0,
                      target=f"127.0.0.1:{closed_port()}")
    clock = SystemClock()
    sink = Collected()
    scheduler = ProbeScheduler(
        [probe], [RunContext(loc, lambda _r: None, lambda _r: None, clock) for loc in LOCATIONS],
        sink, clock, is_cut=lambda _loc, _region: False, confirmations=2,
        retry_interval_s=0.2)
    scheduler.start()
    def every_location_confirmed() -> dict[str, list[CheckResult]] | None:
        found = sink.failures()
        return found if all(len(found.get(loc, ())) >= 2 for loc in LOCATIONS) else None

    try:
        confirmed = wait_until(every_location_confirmed, timeout=20,
                               message="a confirmed failure run at every location")
    finally:
        scheduler.stop()
    for location in LOCATIONS:
        first, second = confirmed[location][:2]
        # the second check was planned at the retry interval, not the probe's interval
        assert (second.intended_at - first.intended_at).total_seconds() < interval / 10
    assert scheduler.rechecks >= 5
