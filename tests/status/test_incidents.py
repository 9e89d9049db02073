"""Grouping, impact, tracking and timelines of incidents, as values (no database)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from status.incidents import (
    Assignment,
    IllegalTransition,
    Impact,
    Live,
    OpenIncident,
    Timeline,
    Tracked,
    assign_failures,
    automatic_title,
    check_acknowledge,
    check_open,
    check_take_over,
    first_failing_check,
    format_duration,
    impact_of,
    recovered_for,
    root_cause,
    track,
    upstream,
    worst_impact,
)
from tests.status.conftest import AU, EU, START, US

EVERYTHING = ("auth", "products", "search", "carts", "orders", "messages", "audit-log",
              "import", "transaction")
COOLDOWN = timedelta(seconds=90)


def failing(region: str, *components: str) -> set[tuple[str, str]]:
    return {(c, region) for c in components}


def test_the_transaction_depends_on_what_a_sale_needs() -> None:
    assert {"auth", "carts", "orders", "messages", "products"} == upstream("transaction")
    assert upstream("auth") == frozenset()


@pytest.mark.parametrize(("component", "others", "root"), [
    ("orders", {"auth", "carts", "orders"}, "auth"),
    ("orders", {"carts", "orders"}, "carts"),
    ("orders", {"products", "carts", "orders"}, "products"),
    ("search", {"orders", "search"}, "search"),
    ("transaction", {"transaction", "messages"}, "messages"),
    ("auth", {"auth"}, "auth"),
])
def test_the_root_cause_is_the_failing_component_furthest_upstream(
        component: str, others: set[str], root: str) -> None:
    assert root_cause(component, others) == root


def test_a_region_outage_is_one_group_named_after_auth() -> None:
    down = failing(EU, *EVERYTHING)
    assert assign_failures(down, down, []) == [
        Assignment("auth", tuple(sorted(down)), None)]


def test_one_service_failing_in_two_regions_is_one_group() -> None:
    down = failing(EU, "search") | failing(US, "search")
    assert assign_failures(down, down, []) == [
        Assignment("search", (("search", EU), ("search", US)), None)]


def test_unrelated_failures_are_separate_groups() -> None:
    down = failing(EU, "search") | failing(AU, "audit-log")
    assert [a.root for a in assign_failures(down, down, [])] == ["audit-log", "search"]


def test_a_dependent_failing_later_joins_the_open_incident_of_its_root() -> None:
    open_one = OpenIncident(7, "auth", START, (Tracked("auth", EU, "major_outage", START),))
    now_failing = failing(EU, "auth", "orders")
    assert assign_failures({("orders", EU)}, now_failing, [open_one]) == [
        Assignment("auth", (("orders", EU),), 7)]


def test_a_root_failing_after_its_dependents_takes_over_their_incident() -> None:
    open_one = OpenIncident(3, "orders", START, (Tracked("orders", EU, "major_outage", START),))
    assert assign_failures({("auth", EU)}, failing(EU, "auth", "orders"), [open_one]) == [
        Assignment("auth", (("auth", EU),), 3)]


def test_the_root_failing_in_another_region_does_not_take_over() -> None:
    open_one = OpenIncident(3, "orders", START, (Tracked("orders", EU, "major_outage", START),))
    down = failing(EU, "orders") | failing(US, "auth")
    assert assign_failures({("auth", US)}, down, [open_one]) == [
        Assignment("auth", (("auth", US),), None)]


@pytest.mark.parametrize(("component", "state", "impact"), [
    ("orders", "major_outage", Impact.CRITICAL),
    ("orders", "partial_outage", Impact.MAJOR),
    ("import", "major_outage", Impact.MAJOR),
    ("import", "partial_outage", Impact.MINOR),
    ("transaction", "major_outage", Impact.CRITICAL),
    ("orders", "degraded_performance", Impact.MINOR),
    ("orders", "operational", None),
])
def test_impact_comes_from_state_and_tier(component: str, state: str,
                                          impact: Impact | None) -> None:
    assert impact_of(component, state) == impact


def test_the_worst_impact_wins() -> None:
    assert worst_impact([("import", "partial_outage"), ("orders", "partial_outage")]) \
        == Impact.MAJOR
    assert worst_impact([("orders", "operational")]) is None


def test_the_title_names_the_root_cause_and_its_regions() -> None:
    tracked = [Tracked("auth", US, "major_outage", START), Tracked("auth", EU, "major_outage",
                                                                   START),
               Tracked("orders", EU, "partial_outage", START)]
    assert automatic_title("auth", tracked) == "auth unavailable in europe-west1.gcp, " \
                                               "us-central1.gcp"
    assert automatic_title("search", [Tracked("search", EU, "partial_outage", START)]) == \
        "search failing intermittently in europe-west1.gcp"


def test_tracking_follows_the_state_and_records_recovery() -> None:
    later = START + timedelta(minutes=3)
    tracked = (Tracked("auth", EU, "major_outage", START),
               Tracked("orders", EU, "major_outage", START))
    live = {("auth", EU): Live("auth", EU, "operational", later),
            ("orders", EU): Live("orders", EU, "partial_outage", later)}
    assert track(tracked, live, later) == (
        Tracked("auth", EU, "operational", START, later),
        Tracked("orders", EU, "partial_outage", START, None))


def test_it_recovers_only_after_the_whole_cool_down() -> None:
    back = START + timedelta(minutes=5)
    tracked = (Tracked("auth", EU, "major_outage", START),)
    live = {("auth", EU): Live("auth", EU, "operational", back)}
    assert not recovered_for(tracked, live, back + COOLDOWN - timedelta(seconds=1), COOLDOWN)
    assert recovered_for(tracked, live, back + COOLDOWN, COOLDOWN)


def test_slow_and_maintenance_are_recovered_from_an_outage_but_failing_is_not() -> None:
    tracked = (Tracked("auth", EU, "major_outage", START), Tracked("carts", EU, "major_outage",
                                                                   START))
    later = START + timedelta(hours=1)
    live = {("auth", EU): Live("auth", EU, "partial_outage", START),
            ("carts", EU): Live("carts", EU, "under_maintenance", later)}
    assert not recovered_for(tracked, live, later, COOLDOWN)
    # Slow answers are not an outage: they must not strand the incident and its page.
    live[("auth", EU)] = Live("auth", EU, "degraded_performance", START)
    assert recovered_for(tracked, live, later, COOLDOWN)


def test_a_pair_without_data_neither_holds_an_incident_open_nor_proves_it_recovered() -> None:
    tracked = (Tracked("auth", EU, "major_outage", START), Tracked("carts", EU, "major_outage",
                                                                   START))
    later = START + timedelta(hours=1)
    live = {("auth", EU): Live("auth", EU, "no_data", START),
            ("carts", EU): Live("carts", EU, "no_data", START)}
    assert not recovered_for(tracked, live, later, COOLDOWN)
    live[("carts", EU)] = Live("carts", EU, "operational", START)
    assert recovered_for(tracked, live, later, COOLDOWN)


def test_the_first_failing_check_is_where_the_current_run_began() -> None:
    def at(seconds: int) -> datetime:
        return START + timedelta(seconds=seconds)

    checks = [("loc-a", at(0), False), ("loc-a", at(30), True), ("loc-a", at(60), False),
              ("loc-a", at(90), False), ("loc-b", at(75), False), ("loc-b", at(105), False),
              ("loc-c", at(80), True), ("loc-a", at(200), False)]
    assert first_failing_check(checks, START + timedelta(seconds=110)) == at(60)
    assert first_failing_check([("loc-a", START, True)], START) is None


def test_timeline_figures_count_from_first_failure_and_opening() -> None:
    timeline = Timeline(START, START + timedelta(seconds=75), START + timedelta(minutes=6),
                        START + timedelta(minutes=41))
    assert timeline.time_to_detect == timedelta(seconds=75)
    assert timeline.time_to_acknowledge == timedelta(minutes=6) - timedelta(seconds=75)
    assert timeline.time_to_resolve == timedelta(minutes=41) - timedelta(seconds=75)
    assert timeline.to_json()["time_to_detect_s"] == 75.0
    open_one = Timeline(None, START, None, None)
    assert (open_one.time_to_detect, open_one.time_to_acknowledge,
            open_one.time_to_resolve) == (None, None, None)
    assert format_duration(timedelta(seconds=75)) == "1 min 15 s"
    assert format_duration(None) == "—"


def test_the_lifecycle_refuses_what_makes_no_sense() -> None:
    with pytest.raises(IllegalTransition):
        check_open("resolved", "get updates")
    with pytest.raises(IllegalTransition):
        check_acknowledge("investigating", START)
    with pytest.raises(IllegalTransition):
        check_take_over("declared", "investigating")
    check_take_over("automatic", "monitoring")


def test_unrelated_failures_beginning_together_in_a_region_are_one_story() -> None:
    down = failing(EU, "carts", "import")
    [only] = assign_failures(down, down, [], START, timedelta(seconds=120))
    assert only.incident_id is None
    assert set(only.keys) == {("carts", EU), ("import", EU)}


def test_a_failure_soon_after_an_incident_in_its_region_joins_it_without_re_rooting() -> None:
    open_one = OpenIncident(4, "carts", START, (Tracked("carts", EU, "major_outage", START),))
    soon, late = START + timedelta(seconds=30), START + timedelta(minutes=10)
    down = failing(EU, "carts", "import")
    assert assign_failures({("import", EU)}, down, [open_one], soon, timedelta(seconds=120)) \
        == [Assignment("carts", (("import", EU),), 4)]
    assert assign_failures({("import", EU)}, down, [open_one], late, timedelta(seconds=120)) \
        == [Assignment("import", (("import", EU),), None)]
    elsewhere = failing(EU, "carts") | failing(US, "import")
    assert assign_failures({("import", US)}, elsewhere, [open_one], soon,
                           timedelta(seconds=120))[0].incident_id is None
