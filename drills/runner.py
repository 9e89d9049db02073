"""Running a drill against a running Bellwether through its API: inject, watch, clear,
and measure time to detect, to page, to notify subscribers and to resolve, and the SLA
minutes booked.

1. Wait until the watched components are operational (a drill starts from calm).
2. Inject the fault; poll states, incidents and the outbox until what is expected has
   happened (or, for drills that expect nothing, for a hold period to see nothing does).
3. Clear the fault; wait until the incident resolves and the rollups cover the drill.

Every PagerDuty trigger the instance sent in the drill's window counts, burn-rate and
no-data ones included: a paging storm is exactly what a drill is for. The probe interval,
whether paging is configured and whether anyone subscribed come from the instance
(`drills.instance`), so a drill says "paging is not configured" rather than "0 pages".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core.clock import Clock
from core.remote import RemoteApi
from drills.instance import InstanceFacts, read_facts
from drills.scenarios import Scenario


@dataclass(frozen=True, slots=True)
class Alert:
    """One PagerDuty alert (a dedup_key) the drill saw triggered, and on which key."""

    dedup_key: str
    routing: str
    triggers: int

    def describe(self) -> str:
        times = f" ×{self.triggers}" if self.triggers > 1 else ""
        return f"{self.dedup_key} on {self.routing}{times}"


def count_triggers(rows: list[dict[str, Any]]) -> list[Alert]:
    """Every trigger among outbox rows, by dedup_key and routing key; nothing left out.

    Rows from a server that does not name the dedup_key fall back to the ordering key.

    >>> rows = [{"channel": "pagerduty", "event_type": "page.trigger", "dedup_key": "k",
    ...          "routing": "tier1"}] * 2 + [{"channel": "pagerduty",
    ...          "event_type": "page.resolve", "dedup_key": "k", "routing": "tier1"}]
    >>> count_triggers(rows)
    [Alert(dedup_key='k', routing='tier1', triggers=2)]
    """
    seen: dict[tuple[str, str], int] = {}
    for row in rows:
        if row.get("channel") != "pagerduty" or row.get("event_type") != "page.trigger":
            continue
        key = (str(row.get("dedup_key") or row.get("ordering_key")),
               str(row.get("routing") or "?"))
        seen[key] = seen.get(key, 0) + 1
    return [Alert(dedup, routing, n) for (dedup, routing), n in sorted(seen.items())]


@dataclass
class DrillResult:
    """What happened in one drill, beside what should have."""

    scenario: str
    title: str
    expected: str
    injected_at: datetime
    cleared_at: datetime | None = None
    states_seen: dict[str, list[str]] = field(default_factory=dict)
    incidents: list[dict[str, Any]] = field(default_factory=list)
    detect_s: float | None = None
    page_s: float | None = None
    notify_s: float | None = None
    resolve_s: float | None = None
    alerts: list[Alert] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    down_minutes: int | None = None
    down_by_component: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def pages(self) -> int:
        """Distinct alerts triggered (a later trigger of one dedup_key updates it)."""
        return len({a.dedup_key for a in self.alerts})

    @property
    def paged(self) -> str:
        """The pages as one cell: "1 page: bellwether-incident-3 on tier1", or why none."""
        if not self.alerts:
            gaps = [n for n in self.notes if n.startswith("paging is not configured")]
            return gaps[0] if gaps else "0 pages"
        plural = "" if self.pages == 1 else "s"
        return f"{self.pages} page{plural}: " + ", ".join(a.describe() for a in self.alerts)

    @property
    def observed(self) -> str:
        states = ", ".join(f"{c} {'→'.join(s)}" for c, s in sorted(self.states_seen.items())
                           ) or "all operational"
        titles = "; ".join(str(i.get("title")) for i in self.incidents)
        incident = f"{len(self.incidents)} incident(s): {titles}" if self.incidents \
            else "no incident"
        notes = "".join(f"; {n}" for n in self.notes
                        if not n.startswith("paging is not configured"))
        return f"{states}; {incident}{notes}"

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "title": self.title, "expected": self.expected,
                "observed": self.observed, "paged": self.paged, "passed": self.passed,
                "injected_at": self.injected_at.isoformat(),
                "cleared_at": self.cleared_at.isoformat() if self.cleared_at else None,
                "time_to_detect_s": self.detect_s, "time_to_page_s": self.page_s,
                "time_to_notify_s": self.notify_s, "time_to_resolve_s": self.resolve_s,
                "sla_down_minutes": self.down_minutes,
                "sla_down_minutes_by_component": self.down_by_component,
                "states_seen": self.states_seen, "problems": self.problems,
                "pages": self.pages, "notes": self.notes,
                "alerts": [{"dedup_key": a.dedup_key, "routing": a.routing,
                            "triggers": a.triggers} for a in self.alerts]}


def _parse(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


class Drill:
    """One scenario against one region of a running instance."""

    def __init__(self, api: RemoteApi, clock: Clock, region: str,
                 interval_s: float | None = None,
                 say: Callable[[str], None] = lambda _line: None,
                 facts: InstanceFacts | None = None) -> None:
        """`interval_s` overrides the probe interval read from the instance."""
        self.api, self.clock, self.region, self.say = api, clock, region, say
        self.facts = facts or read_facts(api, region, interval_s or 30.0)
        self.interval_s = interval_s or self.facts.interval_s

    # --- reading the instance ---------------------------------------------------------------

    def states(self, watched: tuple[str, ...]) -> dict[str, str]:
        rows = self.api.call("GET", "/api/v1/states")["states"]
        return {r["component"]: r["state"] for r in rows
                if r["region"] == self.region and r["component"] in watched}

    def incidents_since(self, since: datetime) -> list[dict[str, Any]]:
        """Every incident opened since `since` touching the region, burn-rate ones included:
        they belong to the outage's incident, or they are the storm the drill must show."""
        rows = self.api.call("GET", "/api/v1/incidents", params={"state": "all",
                                                                 "limit": "50"})
        return [i for i in rows["incidents"]
                if (_parse(i["timeline"]["opened_at"]) or since) >= since
                and any(c["region"] == self.region for c in i["components"])]

    def outbox_since(self, since: datetime, channel: str | None = None,
                     ) -> list[dict[str, Any]]:
        """Outbox rows since `since` (the API answers at most 1,000: pages are asked for
        on their own, so a fan-out to thousands of subscribers cannot hide one)."""
        params = {"since": since.isoformat(), **({"channel": channel} if channel else {})}
        rows = self.api.call("GET", "/api/v1/outbox", params=params)
        return list(rows["rows"])

    def wait(self, what: str, done: Callable[[], bool], timeout_s: float) -> bool:
        """Poll `done` until it holds or the deadline passes (a check every 0.5 s)."""
        deadline = self.clock.monotonic() + timeout_s
        while self.clock.monotonic() < deadline:
            if done():
                return True
            self.clock.sleep(0.5)
        self.say(f"  … gave up waiting for {what} after {timeout_s:.0f} s")
        return done()

    # --- the drill ---------------------------------------------------------------------------

    def run(self, scenario: Scenario) -> DrillResult:
        self.say(f"drill {scenario.name}: {scenario.title} in {self.region}")
        calm = self.wait("calm before the drill", lambda: set(self.states(
            scenario.watched).values()) <= {"operational"}, self._long())
        if not calm:
            self.say("  starting although not every component is operational")
        self._fresh_episode()
        self._fresh_minute(scenario)
        fault = self.api.call("POST", "/api/v1/faults",
                              json={**scenario.fault, "region": self.region})
        result = DrillResult(scenario.name, scenario.title, scenario.expected,
                             self.clock.now())
        result.notes = self._gaps(scenario)
        for note in result.notes:
            self.say(f"  {note}")
        try:
            self._watch(scenario, result)
        finally:
            self.api.call("DELETE", f"/api/v1/faults/{fault['id']}")
            result.cleared_at = self.clock.now()
        self._recover(scenario, result)
        # Triggers after the fault was cleared (a re-page, a late burn-rate alert) count too.
        result.alerts = count_triggers(self.outbox_since(
            result.injected_at - timedelta(seconds=1), "pagerduty"))
        self._judge(scenario, result)
        verdict = "as expected" if result.passed else "; ".join(result.problems)
        self.say(f"  {result.observed}; {result.paged} — {verdict}")
        return result

    def _gaps(self, scenario: Scenario) -> list[str]:
        """What this instance cannot show of the drill (one line each)."""
        if not scenario.expect_incident:
            gap = self.facts.paging_gap(None)
            return [gap] if gap else []
        gaps = [self.facts.paging_gap(scenario.root), self.facts.notice_gap()]
        return [g for g in gaps if g]

    def _fresh_episode(self) -> None:
        """Wait until the region's last incident resolved `incident_reopen_s` ago: a failure
        sooner than that is the same episode (the incident reopens, no new page), and the
        drill would measure the previous drill's story instead of its own."""
        window = self.facts.incident_reopen_s
        if window <= 0:
            return
        now = self.clock.now()
        rows = self.api.call("GET", "/api/v1/incidents", params={"state": "resolved",
                                                                 "limit": "20"})
        recent = [t for i in rows["incidents"]
                  if any(c["region"] == self.region for c in i["components"])
                  and (t := _parse(i["timeline"]["resolved_at"])) is not None
                  and (now - t).total_seconds() < window]
        if not recent:
            return
        wait = window - (now - max(recent)).total_seconds()
        if wait > 0:
            self.say(f"  waiting {wait:.0f} s so that this drill is an episode of its own "
                     f"(incident_reopen_s = {window:.0f})")
            self.clock.sleep(wait)

    def _fresh_minute(self, scenario: Scenario) -> None:
        """Start in a minute that no earlier drill booked downtime in, so the SLA minutes
        counted are this drill's own (after the rollups have caught up with the checks)."""
        self.clock.sleep(max(8.0, 2 * self.interval_s))
        now = self.clock.now()
        start = now.replace(second=0, microsecond=0)
        if all(int(self._minutes(c, start, now)["counts"]["down"]) == 0
               for c in scenario.watched):
            return
        wait = 60.5 - now.second - now.microsecond / 1e6
        self.say(f"  waiting {wait:.0f} s for a minute without earlier downtime")
        self.clock.sleep(wait)

    def _long(self) -> float:
        return max(30.0, 25 * self.interval_s)

    def _watch(self, scenario: Scenario, result: DrillResult) -> None:
        start = result.injected_at
        expected = dict(scenario.expect_states)

        def reached() -> bool:
            seen = self.states(scenario.watched)
            for component, state in seen.items():
                history = result.states_seen.setdefault(component, [])
                if state != "operational" and state not in history:
                    history.append(state)
            result.states_seen = {c: h for c, h in result.states_seen.items() if h}
            if expected and result.detect_s is None and all(
                    s in result.states_seen.get(c, []) for c, s in expected.items()):
                result.detect_s = (self.clock.now() - start).total_seconds()
            if scenario.expect_incident:
                self._paging(result, start)
                # Without subscribers no notice can come: waiting for one only stalls.
                told = result.notify_s is not None or unheard
                return result.detect_s is not None and result.page_s is not None and told
            return result.detect_s is not None if expected else False

        unheard = self.facts.notice_gap() is not None
        if scenario.expect_incident or expected:
            # Subscribers hear of an episode only after the settle window that follows the
            # page (issue 11 §7), so a drill expecting a notice waits that much longer.
            settle = self.facts.notice_settle_s \
                if scenario.expect_incident and not unheard else 0.0
            self.wait("the expected reaction", reached, self._long() + settle)
        # Hold a while more: nothing unexpected may follow (pages, other incidents).
        hold = self.clock.monotonic() + max(6.0, 6 * self.interval_s)
        while self.clock.monotonic() < hold:
            reached()
            self.clock.sleep(0.5)
        self._paging(result, start)

    def _paging(self, result: DrillResult, start: datetime) -> None:
        result.incidents = self.incidents_since(start - timedelta(seconds=1))
        since = start - timedelta(seconds=1)
        pages = self.outbox_since(since, "pagerduty")
        result.alerts = count_triggers(pages)
        triggers = [r for r in pages if r["event_type"] == "page.trigger"]
        for row in sorted(triggers, key=lambda r: str(r["delivered_at"] or "~")):
            delivered = _parse(row["delivered_at"])
            if delivered and result.page_s is None:
                result.page_s = (delivered - start).total_seconds()
        notices = [r for r in self.outbox_since(since)
                   if r["channel"] in ("email", "webhook")
                   and str(r["event_type"]).startswith("incident.")]
        delivered_notices = [_parse(r["delivered_at"]) for r in notices if r["delivered_at"]]
        if delivered_notices and result.notify_s is None:
            result.notify_s = (min(d for d in delivered_notices if d) - start).total_seconds()

    def _recover(self, scenario: Scenario, result: DrillResult) -> None:
        start = result.injected_at
        if scenario.expect_incident or result.incidents:
            def resolved() -> bool:
                incidents = self.incidents_since(start - timedelta(seconds=1))
                result.incidents = incidents
                times = [_parse(i["timeline"]["resolved_at"]) for i in incidents]
                if incidents and all(times):
                    result.resolve_s = (max(t for t in times if t) - start).total_seconds()
                    return True
                return False

            self.wait("the incident to resolve itself", resolved, self._long())
        self.wait("operational again", lambda: set(self.states(scenario.watched).values())
                  <= {"operational"}, self._long())
        result.down_minutes = self._booked(scenario, result)

    def _booked(self, scenario: Scenario, result: DrillResult) -> int | None:
        """The most SLA down minutes any watched component booked during the drill."""
        since = result.injected_at
        until = self.clock.now()
        last_minute = int(until.timestamp()) // 60 - 1
        worst: int | None = None
        for component in scenario.watched:
            def rolled(name: str = component) -> bool:
                answer = self._minutes(name, since, until)
                return (answer["last_rolled_minute"] or 0) >= last_minute

            self.wait(f"rollups of {component}", rolled, max(20.0, 5 * self.interval_s))
            down = int(self._minutes(component, since, until)["counts"]["down"])
            if down:
                result.down_by_component[component] = down
            worst = down if worst is None else max(worst, down)
        return worst

    def _minutes(self, component: str, since: datetime, until: datetime) -> dict[str, Any]:
        answer: dict[str, Any] = self.api.call("GET", "/api/v1/minutes", params={
            "component": component, "region": self.region, "since": since.isoformat(),
            "until": until.isoformat()})
        return answer

    def _judge(self, scenario: Scenario, result: DrillResult) -> None:
        problems = result.problems
        for component, state in scenario.expect_states.items():
            if state not in result.states_seen.get(component, []):
                problems.append(f"{component} never became {state}")
        # Slowness elsewhere (a loaded machine) is shown in `observed` but is no failure of
        # the monitor; an outage where none belongs is.
        strays = sorted(c for c, seen in result.states_seen.items()
                        if c not in scenario.expect_states
                        and {"partial_outage", "major_outage"} & set(seen))
        problems.extend(f"{c} left operational ({', '.join(result.states_seen[c])})"
                        for c in strays)
        if scenario.expect_incident:
            problems.extend(_incident_problems(scenario, result))
        else:
            problems.extend(_calm_problems(result))


def _incident_problems(scenario: Scenario, result: DrillResult) -> list[str]:
    """What is wrong with a drill that must open one incident, page once and resolve."""
    problems = []
    if len(result.incidents) != 1:
        problems.append(f"{len(result.incidents)} incidents instead of one")
    elif scenario.root and scenario.root not in str(result.incidents[0]["title"]) \
            and result.incidents[0].get("root_component") != scenario.root:
        # A region where everything fails is named as the region, its root in the text.
        problems.append(f"the incident is not named after {scenario.root}")
    paging_off = any(n.startswith("paging is not configured") for n in result.notes)
    per_key = Counter(a.routing for a in result.alerts)
    if not (paging_off and result.pages == 0) and (
            not per_key or any(n != 1 for n in per_key.values())):
        # One page per routing key: an outage that reaches Tier 1 after it paged Tier 2
        # pages the Tier 1 key too (the contract's escalation), never a key twice.
        problems.append(f"{result.paged} instead of one page per routing key")
    if result.notify_s is None and "no subscribers: notices not measured" not in result.notes:
        problems.append("no subscriber was notified")
    if result.resolve_s is None:
        problems.append("the incident did not resolve itself")
    return problems


def _calm_problems(result: DrillResult) -> list[str]:
    """What is wrong with a drill after which nothing may be opened, paged or booked."""
    problems = []
    if result.incidents:
        problems.append(f"{len(result.incidents)} incident(s) where none belong")
    if result.pages:
        problems.append(f"{result.paged} where none belong")
    if result.down_by_component:
        booked = ", ".join(f"{c} {n}" for c, n in sorted(result.down_by_component.items()))
        problems.append(f"SLA down minutes booked: {booked}")
    return problems
