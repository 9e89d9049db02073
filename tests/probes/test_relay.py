"""The relay rule (probes.relay): which ingested failures ask the other locations to re-check
their pair, and how an agent acts on each request once. Values in, values out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from probes.checks import CheckResult
from probes.locations import Confirmations, Recheck
from probes.relay import (
    MAX_LIVE_S,
    HeardRequests,
    RecheckRequest,
    jobs_to_look_up,
    request_from_json,
    requests_for,
    starts_failure_run,
)

NOW = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)


def check(ok: bool, seconds_ago: float = 1.0, location: str = "loc-a", probe: str = "orders.x",
          interval_s: int = 30) -> CheckResult:
    at = NOW - timedelta(seconds=seconds_ago)
    return CheckResult(probe=probe, component="orders", region="eu", location=location,
                       intended_at=at, started_at=at, ok=ok, latency_ms=5.0,
                       interval_s=interval_s)


@pytest.mark.parametrize(("ok", "previous_ok", "starts"), [
    (False, True, True), (False, None, True), (False, False, False), (True, True, False),
    (True, None, False), (True, False, False)])
def test_a_run_starts_with_a_failure_after_a_pass_or_after_nothing(
        ok: bool, previous_ok: bool | None, starts: bool) -> None:
    assert starts_failure_run(ok, previous_ok) is starts


def test_the_first_failure_after_a_pass_asks_for_its_pair_until_one_interval_from_now() -> None:
    failed = check(False)
    assert requests_for([failed], {("orders.x", "loc-a"): True}, NOW) == [
        RecheckRequest(failed.id, "orders", "eu", "loc-a", NOW + timedelta(seconds=30))]


def test_a_failure_with_nothing_stored_before_it_asks_too() -> None:
    assert len(requests_for([check(False)], {}, NOW)) == 1


def test_a_failure_that_continues_a_run_asks_nothing() -> None:
    assert requests_for([check(False)], {("orders.x", "loc-a"): False}, NOW) == []


def test_within_one_batch_the_checks_of_a_job_follow_each_other_by_their_start() -> None:
    passed, failed, again = check(True, 20), check(False, 10), check(False, 5)
    asked = requests_for([again, failed, passed], {("orders.x", "loc-a"): False}, NOW)
    assert [a.id for a in asked] == [failed.id]


def test_jobs_are_told_apart_by_probe_and_location() -> None:
    a, b, other = check(False), check(False, location="loc-b"), check(False, probe="orders.y")
    before = {("orders.x", "loc-a"): True, ("orders.x", "loc-b"): False}
    assert {x.id for x in requests_for([a, b, other], before, NOW)} == {a.id, other.id}


def test_a_failure_older_than_its_interval_is_old_news_and_asks_nothing() -> None:
    stale = check(False, seconds_ago=31)
    assert requests_for([stale], {}, NOW) == []
    assert jobs_to_look_up([stale], NOW) == {}


def test_a_batch_sent_with_a_check_twice_asks_once() -> None:
    failed = check(False)
    assert len(requests_for([failed, failed], {}, NOW)) == 1


def test_a_long_interval_probe_asks_for_at_most_the_cap() -> None:
    hourly = check(False, interval_s=3600)
    [asked] = requests_for([hourly], {}, NOW)
    assert asked.expires_at == NOW + timedelta(seconds=MAX_LIVE_S)


def test_only_jobs_with_a_fresh_failure_are_looked_up_from_their_earliest_check() -> None:
    early, late = check(True, 20), check(False, 5)
    passing_elsewhere = check(True, location="loc-b")
    assert jobs_to_look_up([late, early, passing_elsewhere], NOW) == {("orders.x", "loc-a"): early}


def test_a_request_survives_the_answer_and_anything_else_is_skipped() -> None:
    asked = RecheckRequest("c1", "orders", "eu", "loc-a", NOW)
    assert request_from_json(asked.to_json()) == asked
    broken: list[object] = [None, [], {**asked.to_json(), "id": ""},
                            {**asked.to_json(), "region": 3},
                            {**asked.to_json(), "expires_at": "soon"},
                            {**asked.to_json(), "expires_at": "2026-12-03T20:00:00"}]
    assert [request_from_json(raw) for raw in broken] == [None] * len(broken)


def test_an_agent_acts_on_each_request_once_and_forgets_the_oldest_beyond_its_capacity() -> None:
    heard = HeardRequests(capacity=2)
    one, two, three = (RecheckRequest(i, "orders", "eu", "loc-a", NOW) for i in "123")
    assert heard.new([one, two, one]) == [one, two]
    assert heard.new([one, two]) == []
    assert heard.new([three]) == [three]
    assert heard.new([one]) == [one]  # forgotten: the server stopped listing it long ago


def test_a_relayed_request_rechecks_the_jobs_of_the_pair_that_are_not_failing_already() -> None:
    confirming = Confirmations(confirmations=2, retry_interval_s=5)
    confirming.after("orders.x@loc-b", False, ["orders.x@loc-b", "orders.y@loc-b"])
    assert confirming.asked(["orders.x@loc-b", "orders.y@loc-b"]) == [
        Recheck("orders.y@loc-b", 0.0)]


def test_up_and_agents_follow_one_rule_for_the_first_failure_of_a_run() -> None:
    """`Confirmations` (in process) asks the pair only where the relay (server) would."""
    confirming = Confirmations(confirmations=3, retry_interval_s=5)
    pair = ["p@a", "p@b"]
    previous: bool | None = None
    for ok in [False, False, True, False, True, True, False]:
        asked_pair = Recheck("p@b", 0.0) in confirming.after("p@a", ok, pair)
        assert asked_pair is starts_failure_run(ok, previous)
        previous = ok
