"""The live state of a component in a region, from each location's recent checks (pure).

Same rules as the SLA: a location is down when its current failure run is confirmed
(`sla.verdicts`), and a state needs a strict majority of the locations with fresh data
(`sla.quorum`), so one partitioned location never makes a component fail.

Silence is a state too: when fewer than a strict majority of the locations expected to
check a pair have fresh checks, the pair is `no_data` ("Data delayed"), never the last
state it happened to have (`evaluate_pair`).
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from sla.model import MinuteVerdict
from sla.quorum import quorum_verdict
from sla.verdicts import RunTracker

#: How many recent checks per location the intermittent-failure and latency rules look at.
WINDOW = 10
#: Separate failure runs among a location's last WINDOW checks that make it "flaky": one run
#: is an outage (and, once over, a recovery), several are failures that come and go.
FLAKY_RUNS = 2
#: Slow answers among a location's last three that make it "slow".
SLOW_OF_LAST_THREE = 2


class State(enum.StrEnum):
    OPERATIONAL = "operational"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"
    UNDER_MAINTENANCE = "under_maintenance"
    #: Too few locations sent fresh checks to say anything: not a failure, not operational.
    NO_DATA = "no_data"


SEVERITY = {State.OPERATIONAL: 0, State.UNDER_MAINTENANCE: 0, State.NO_DATA: 0,
            State.DEGRADED_PERFORMANCE: 1, State.PARTIAL_OUTAGE: 2, State.MAJOR_OUTAGE: 3}
#: How many intervals a location may stay silent before its checks are no longer fresh.
FRESH_INTERVALS = 3


@dataclass(frozen=True, slots=True)
class Observed:
    """One recent check of one location, in time order."""

    ok: bool
    degraded: bool


@dataclass(frozen=True, slots=True)
class LocationView:
    """What one location's recent checks say."""

    down: bool
    flaky: bool
    slow: bool


@dataclass(frozen=True, slots=True)
class Evaluation:
    state: State
    reason: str


def view_location(checks: Sequence[Observed], confirmations: int) -> LocationView:
    """Down: a confirmed failure run in progress. Flaky: failures come and go. Slow: slow."""
    tracker = RunTracker(confirmations)
    for check in checks:
        tracker.observe(check.ok)
    window = checks[-WINDOW:]
    runs = sum(not c.ok and (i == 0 or window[i - 1].ok) for i, c in enumerate(window))
    slow = sum(c.ok and c.degraded for c in checks[-3:])
    return LocationView(down=tracker.is_down, flaky=runs >= FLAKY_RUNS,
                        slow=slow >= SLOW_OF_LAST_THREE)


def _has_quorum(views: Sequence[LocationView], attribute: str) -> tuple[bool, int]:
    count = sum(getattr(view, attribute) for view in views)
    return quorum_verdict(len(views), count) is MinuteVerdict.DOWN, count


def evaluate(recent: Mapping[str, Sequence[Observed]], confirmations: int) -> Evaluation | None:
    """The state from each location's recent checks (only locations with fresh data).

    None when no location has fresh data: the state stays as it was rather than guess.
    """
    views = [view_location(checks, confirmations) for checks in recent.values() if checks]
    if not views:
        return None
    n = len(views)
    down, count = _has_quorum(views, "down")
    if down:
        return Evaluation(State.MAJOR_OUTAGE,
                          f"{count} of {n} locations see a confirmed failure run")
    flaky, count = _has_quorum([LocationView(v.down, v.flaky or v.down, v.slow) for v in views],
                               "flaky")
    if flaky:
        return Evaluation(State.PARTIAL_OUTAGE, f"{count} of {n} locations see failing checks")
    slow, count = _has_quorum(views, "slow")
    if slow:
        return Evaluation(State.DEGRADED_PERFORMANCE,
                          f"{count} of {n} locations see slow answers")
    return Evaluation(State.OPERATIONAL, f"{n} locations see the service working")


def has_data(fresh: int, expected: int) -> bool:
    """Whether `fresh` locations are a strict majority of the `expected` ones (at least one).

    >>> has_data(2, 3), has_data(1, 3), has_data(1, 1), has_data(0, 0)
    (True, False, True, False)
    """
    return fresh > 0 and 2 * fresh > expected


def evaluate_pair(recent: Mapping[str, Sequence[Observed]], expected: Collection[str],
                  confirmations: int) -> Evaluation:
    """The state of a pair from its fresh checks per location, or `no_data` without a quorum.

    `recent` holds only locations with fresh checks; `expected` the locations that should
    have them (a fresh location that was not expected counts as expected too).
    """
    fresh = {location for location, checks in recent.items() if checks}
    wanted = len(fresh | set(expected))
    if not has_data(len(fresh), wanted):
        return Evaluation(State.NO_DATA, f"{len(fresh)} of {wanted} locations sent fresh "
                                         f"checks in the last {FRESH_INTERVALS} intervals")
    evaluation = evaluate(recent, confirmations)
    assert evaluation is not None  # at least one location has checks
    return evaluation


def no_probe() -> Evaluation:
    """A pair no enabled probe checks: no location is expected, so nothing it hears is data
    (an agent with an old catalogue may still be probing it)."""
    return Evaluation(State.NO_DATA, "no enabled probe checks it")
