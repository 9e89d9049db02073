"""Live state from recent checks: confirmation per location, quorum across them."""

from __future__ import annotations

from probes.evaluate import Observed, State, evaluate, view_location

OK, FAIL, SLOW = Observed(True, False), Observed(False, False), Observed(True, True)


def test_it_confirms_after_two_failures() -> None:
    assert not view_location([OK, OK, FAIL], confirmations=2).down
    assert view_location([OK, FAIL, FAIL], confirmations=2).down
    assert not view_location([FAIL, FAIL, OK], confirmations=2).down


def test_one_partitioned_location_never_makes_a_component_fail() -> None:
    recent = {"loc-a": [FAIL] * 10, "loc-b": [OK] * 10, "loc-c": [OK] * 10}
    evaluation = evaluate(recent, confirmations=2)
    assert evaluation is not None
    assert evaluation.state is State.OPERATIONAL


def test_two_of_three_locations_make_a_major_outage() -> None:
    recent = {"loc-a": [OK] * 8 + [FAIL] * 2, "loc-b": [OK] * 8 + [FAIL] * 2, "loc-c": [OK] * 10}
    evaluation = evaluate(recent, confirmations=2)
    assert evaluation is not None
    assert evaluation.state is State.MAJOR_OUTAGE
    assert "2 of 3" in evaluation.reason


def test_a_blip_is_not_an_outage() -> None:
    recent = {loc: [OK] * 5 + [FAIL] + [OK] * 4 for loc in ("loc-a", "loc-b", "loc-c")}
    evaluation = evaluate(recent, confirmations=2)
    assert evaluation is not None
    assert evaluation.state is State.OPERATIONAL


def test_intermittent_failures_are_a_partial_outage() -> None:
    flaky = [OK, FAIL, OK, OK, FAIL, OK, OK, FAIL, OK, OK]
    recent = {"loc-a": flaky, "loc-b": flaky[::-1], "loc-c": flaky}
    evaluation = evaluate(recent, confirmations=2)
    assert evaluation is not None
    assert evaluation.state is State.PARTIAL_OUTAGE


def test_slow_answers_from_a_quorum_degrade_performance() -> None:
    recent = {"loc-a": [OK] * 7 + [SLOW] * 3, "loc-b": [OK] * 8 + [SLOW] * 2, "loc-c": [OK] * 10}
    evaluation = evaluate(recent, confirmations=2)
    assert evaluation is not None
    assert evaluation.state is State.DEGRADED_PERFORMANCE
    one_slow = evaluate({"loc-a": [SLOW] * 10, "loc-b": [OK] * 10, "loc-c": [OK] * 10}, 2)
    assert one_slow is not None
    assert one_slow.state is State.OPERATIONAL


def test_no_fresh_data_keeps_the_state_as_it_was() -> None:
    assert evaluate({}, confirmations=2) is None
    assert evaluate({"loc-a": []}, confirmations=2) is None


def test_a_recovered_outage_is_operational_at_once() -> None:
    recovered = [OK] * 4 + [FAIL] * 4 + [OK] * 2
    evaluation = evaluate({loc: recovered for loc in ("loc-a", "loc-b", "loc-c")}, 2)
    assert evaluation is not None
    assert evaluation.state is State.OPERATIONAL


def test_without_fresh_checks_from_a_majority_of_the_expected_locations_it_is_no_data() -> None:
    from probes.evaluate import evaluate_pair

    expected = ("loc-a", "loc-b", "loc-c")
    alone = evaluate_pair({"loc-a": [OK] * 10}, expected, confirmations=2)
    assert alone.state is State.NO_DATA
    assert "1 of 3" in alone.reason
    assert evaluate_pair({}, (), confirmations=2).state is State.NO_DATA
    two = evaluate_pair({"loc-a": [OK] * 3, "loc-b": [FAIL] * 3}, expected, confirmations=2)
    assert two.state is State.OPERATIONAL
