"""Checking what support engineers send (no database)."""

from __future__ import annotations

from typing import Any

import pytest

from status.declared import (
    Affected,
    InvalidIncident,
    parse_declaration,
    parse_take_over,
    parse_update,
)
from status.incidents import Impact, IncidentStatus
from tests.status.conftest import EU, US

REGIONS = (EU, US)
GOOD: dict[str, Any] = {"title": "  Checkout <b>slow</b> ", "impact": "major",
                        "message": "We are on it.",
                        "components": [{"component": "orders", "region": EU,
                                        "state": "partial_outage"}]}


def test_a_declaration_keeps_text_as_written() -> None:
    declaration = parse_declaration(GOOD, REGIONS)
    assert declaration.title == "Checkout <b>slow</b>"
    assert declaration.impact is Impact.MAJOR
    assert declaration.status is IncidentStatus.INVESTIGATING
    assert declaration.components == (Affected("orders", EU, "partial_outage"),)


@pytest.mark.parametrize(("change", "complaint"), [
    ({"title": ""}, "'title' must not be empty"),
    ({"title": "x" * 201}, "at most 200"),
    ({"title": 7}, "'title' must be a string"),
    ({"impact": "apocalyptic"}, "'impact' must be one of"),
    ({"message": None}, "'message' must be a string"),
    ({"status": "resolved"}, "'status' must be one of"),
    ({"components": "orders"}, "'components' must be a list"),
    ({"components": [{"component": "orders", "region": "mars-1"}]}, "'region' must be one of"),
    ({"components": [{"component": "Orders!", "region": EU}]}, "not a component name"),
    ({"components": [{"component": "orders", "region": EU, "state": "on_fire"}]},
     "'state' must be one of"),
    ({"components": [{"component": "orders", "region": EU}] * 2}, "listed twice"),
])
def test_bad_declarations_say_what_to_fix(change: dict[str, Any], complaint: str) -> None:
    with pytest.raises(InvalidIncident, match=complaint):
        parse_declaration({**GOOD, **change}, REGIONS)


def test_an_update_may_change_impact_and_components() -> None:
    update = parse_update({"status": "identified", "body": "Found it", "impact": "critical",
                           "components": []}, REGIONS)
    assert (update.status, update.impact, update.components) == (
        IncidentStatus.IDENTIFIED, Impact.CRITICAL, ())
    assert parse_update({"status": "monitoring", "body": "x"}, REGIONS).components is None
    with pytest.raises(InvalidIncident):
        parse_update({"status": "fixed", "body": "x"}, REGIONS)


def test_a_take_over_needs_title_and_text() -> None:
    assert parse_take_over({"title": "Auth outage", "message": "Details"}).title == "Auth outage"
    with pytest.raises(InvalidIncident):
        parse_take_over({"title": "Auth outage"})
