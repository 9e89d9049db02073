"""The drills as values: one per failure the resiliency paper describes, with what a
correct monitor does about it (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from commerce.catalog import SERVICES

ALL = tuple(SERVICES)


@dataclass(frozen=True, slots=True)
class Scenario:
    """A failure to inject and the verdict expected of Bellwether.

    `expect_states` maps watched components to the state they must reach; components not
    named must stay operational. `expect_incident` says whether an incident (and a page)
    must follow; a drill that expects none watches for a while to be sure none comes.
    """

    name: str
    title: str
    fault: Mapping[str, Any]
    expect_states: Mapping[str, str]
    expect_incident: bool
    paper: str
    watched: tuple[str, ...] = ALL
    root: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def expected(self) -> str:
        if not self.expect_incident:
            return "no incident, no page; every component stays operational" \
                if not self.expect_states else \
                f"{self._states()}; no incident, no page"
        root = f" named after {self.root}" if self.root else ""
        return f"{self._states()}; one incident{root}, one page, subscribers notified"

    def _states(self) -> str:
        return ", ".join(f"{c} {s}" for c, s in sorted(self.expect_states.items()))


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("zone", "A zone fails", {"kind": "zone_down", "zone": "b"}, {}, False,
             "Three zones behind a router that sends traffic only to healthy zones: "
             "a zone failure is invisible to clients."),
    Scenario("region", "A region fails", {"kind": "region_down"},
             dict.fromkeys(ALL, "major_outage"), True,
             "Regions are independent: one failing region is one incident there.",
             root="auth"),
    Scenario("auth", "Auth, the single point of failure, fails", {"kind": "auth_down"},
             dict.fromkeys(ALL, "major_outage"), True,
             "Every call is authenticated: without auth nothing works, and that is one "
             "incident named after auth, not one per service.", root="auth"),
    Scenario("service", "One Tier 2 service fails while the others work",
             {"kind": "service_down", "service": "import"}, {"import": "major_outage"}, True,
             "The Import API can fail while the shop keeps selling: Tier 2, paged as a "
             "warning.", root="import"),
    Scenario("latency", "Latency spike", {"kind": "latency", "service": "search",
                                           "value": 1500},
             {"search": "degraded_performance"}, False,
             "Slow answers are degraded performance, never SLA downtime."),
    Scenario("errors", "Intermittent errors", {"kind": "error_rate", "service": "search",
                                                "value": 0.3},
             {"search": "partial_outage"}, True,
             "Errors that come and go are a partial outage.", root="search"),
    Scenario("database", "The database refuses writes", {"kind": "database_down"},
             {"carts": "major_outage", "orders": "major_outage", "import": "major_outage"},
             True, "The state lives in the database: writes fail, reads still work.",
             watched=("carts", "orders", "import", "products", "search")),
    Scenario("partition", "A probe location is cut off", {"kind": "partition",
                                                           "location": "loc-a"}, {}, False,
             "One location losing its path to a region must not book downtime."),
)


def by_name(name: str) -> Scenario:
    for scenario in SCENARIOS:
        if scenario.name == name:
            return scenario
    names = ", ".join(s.name for s in SCENARIOS)
    raise KeyError(f"no drill {name!r}; the drills are: {names}, all")
