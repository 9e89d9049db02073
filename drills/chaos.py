"""A chaos campaign: a seeded, randomized sequence of compound faults against a real
`bellwether up` at 1 s probes, with a PagerDuty stand-in, a mail server and an agent; after
the campaign, the invariants of `drills.chaos_invariants` over everything they received.

The plan is pure (`plan_campaign`: a seed in, episodes out, each with the pages its roots
call for); `Campaign` plays it against an instance through its API and the harness
(`drills.chaos_harness`), waiting for quiet after each episode; `run_campaign_command` is
`bellwether drill chaos`: it starts the whole world itself, in a temporary directory.
"""

from __future__ import annotations

import json
import random
import re
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from commerce.catalog import tier_of
from core.clock import Clock, SystemClock
from core.errors import BellwetherError
from core.remote import RemoteApi
from core.servers import free_port
from drills.chaos_harness import MailSink, PagerDutyStandIn, Process, base_env, self_signed
from drills.chaos_invariants import (
    Episode,
    EpisodeCounts,
    Notice,
    PageEvent,
    Sample,
    Violation,
    check_campaign,
    counts,
    held,
    quorum_checked_at,
)

KINDS = ("overlap", "flapping", "escalation", "pagerduty_away", "probes_disabled",
         "agent_killed")
ROUTING = {1: "chaos-tier1-key", 2: "chaos-tier2-key"}
OVERLAP_SERVICES = ("products", "search", "carts", "orders", "messages")
FLAP_SERVICES = ("search", "carts", "orders", "messages")
TIER2_ROOTS = ("audit-log", "import")
ANY_COMPONENT = ("auth", "products", "search", "carts", "orders", "messages", "audit-log",
                 "import")
INCIDENT_LINK = re.compile(r"/incidents/(\d+)\b")
CALM_STATES = frozenset({"operational", "degraded_performance"})
CONFIRM_SUBJECT = "Confirm your status subscription"
AGENT_LOCATION = "loc-d"
IN_PROCESS_LOCATIONS = 3


@dataclass(frozen=True, slots=True)
class Timing:
    """How long faults hold and how long the campaign waits; CI and bench differ."""

    hold_s: float = 20.0
    flap_on_s: float = 6.0
    flap_off_s: float = 6.0
    flaps: int = 3
    away_s: float = 60.0
    quiet_timeout_s: float = 120.0
    reopen_s: float = 15.0
    settle_s: float = 3.0
    notice_interval_s: float = 20.0
    sample_every_s: float = 3.0


@dataclass(frozen=True, slots=True)
class EpisodePlan:
    """One episode: a kind of compound fault, where, and what it must page."""

    kind: str
    region: str
    other_region: str
    component: str

    @property
    def title(self) -> str:
        return {
            "overlap": f"{self.region} fails while {self.component} fails in "
                       f"{self.other_region}",
            "flapping": f"{self.component} errors come and go in {self.region}",
            "escalation": f"{self.component} (Tier 2) fails in {self.region}, then auth",
            "pagerduty_away": f"auth fails in {self.region} and PagerDuty goes away",
            "probes_disabled": f"every probe of {self.component} disabled",
            "agent_killed": f"the agent at {AGENT_LOCATION} is killed",
        }[self.kind]

    def pages(self, regions: Sequence[str]) -> dict[str, int]:
        """Distinct alerts per routing key: one per root per key (a no-data gap is one root
        per (component, region), as the spec pages it)."""
        if self.kind == "overlap":
            return {ROUTING[1]: 2}
        if self.kind == "escalation":
            return {ROUTING[1]: 1, ROUTING[2]: 1}
        if self.kind == "probes_disabled":
            return {ROUTING[tier_of(self.component)]: len(regions)}
        return {ROUTING[1]: 1}

    def roots(self, regions: Sequence[str]) -> int:
        return {"overlap": 2, "probes_disabled": len(regions)}.get(self.kind, 1)


def plan_campaign(seed: int, episodes: int, regions: Sequence[str],
                  kinds: Sequence[str] = KINDS) -> list[EpisodePlan]:
    """The episodes of seed `seed`: every kind once in a shuffled order, then random kinds.

    >>> [p.kind for p in plan_campaign(3, 2, ["eu", "us"], ("flapping", "overlap"))]
    ['overlap', 'flapping']
    >>> plan_campaign(3, 4, ["eu", "us"]) == plan_campaign(3, 4, ["eu", "us"])
    True
    """
    rng = random.Random(seed)
    order = list(kinds)
    rng.shuffle(order)
    while len(order) < episodes:
        order.append(rng.choice(list(kinds)))
    plans = []
    for kind in order[:episodes]:
        region, other = rng.sample(list(regions), 2) if len(regions) > 1 else \
            (regions[0], regions[0])
        component = rng.choice({"overlap": OVERLAP_SERVICES, "flapping": FLAP_SERVICES,
                                "escalation": TIER2_ROOTS, "probes_disabled": ANY_COMPONENT,
                                }.get(kind, ("auth",)))
        plans.append(EpisodePlan(kind, region, other, component))
    return plans


@dataclass
class CampaignResult:
    seed: int
    plans: list[EpisodePlan]
    episodes: list[Episode] = field(default_factory=list)
    pages: list[PageEvent] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    setup_mails: int = 0
    samples: list[Sample] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    figures: list[EpisodeCounts] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    silent_after_s: float = 0.0
    started_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def passed(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        lines = [f"chaos seed {self.seed}: {len(self.episodes)} episode(s), "
                 f"{sum(1 for p in self.pages if p.action == 'trigger')} trigger(s), "
                 f"{sum(1 for p in self.pages if p.action == 'resolve')} resolve(s), "
                 f"{len(self.notices)} notice(s), {len(self.samples)} sample(s) — "
                 + ("every invariant held" if self.passed else
                    f"{len(self.violations)} violation(s)")]
        for name, n in held(self.violations).items():
            lines.append(f"  {'held    ' if n == 0 else 'VIOLATED'} {name}"
                         + (f" ({n})" if n else ""))
        for figures in self.figures:
            alerts = ", ".join(f"{key}: {len(keys)} alert(s)/{figures.triggers[key]} "
                               f"trigger(s)" for key, keys in sorted(figures.alerts.items()))
            lines.append(f"  {figures.name}: {alerts or 'no trigger'}; {figures.resolves} "
                         f"resolve(s); {figures.notices} notice(s) to "
                         f"{figures.subscribers} subscriber(s)")
        lines += [f"  note: {n}" for n in self.notes]
        lines += [v.describe() for v in self.violations]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "passed": self.passed,
                "started_at": self.started_at.isoformat() if self.started_at else None,
                "ended_at": self.ended_at.isoformat() if self.ended_at else None,
                "silent_after_s": self.silent_after_s,
                "episodes": [{"index": e.index, "name": e.name, "start": e.start.isoformat(),
                              "expected_pages": dict(e.pages), "roots": e.roots}
                             for e in self.episodes],
                "held": held(self.violations),
                "violations": [{"invariant": v.invariant, "episode": v.episode,
                                "detail": v.detail, "events": list(v.events)}
                               for v in self.violations],
                "pages": [{"at": p.at.isoformat(), "routing_key": p.routing_key,
                           "dedup_key": p.dedup_key, "action": p.action} for p in self.pages],
                "notices": [{"at": n.at.isoformat(), "subscriber": n.subscriber,
                             "subject": n.subject, "incident": n.incident}
                            for n in self.notices],
                "setup_mails": self.setup_mails, "notes": self.notes}


class Silence(threading.Thread):
    """Samples every pair's state and its quorum's last check while the campaign runs."""

    def __init__(self, api: RemoteApi, clock: Clock, every_s: float,
                 limits: Mapping[tuple[str, str], float]) -> None:
        super().__init__(daemon=True)
        self.api, self.clock, self.every_s, self.limits = api, clock, every_s, limits
        self.samples: list[Sample] = []
        self.locations: set[str] = set()
        self.errors = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.every_s):
            try:
                self.sample()
            except BellwetherError:
                self.errors += 1

    def sample(self) -> None:
        states = self.api.call("GET", "/api/v1/states")["states"]
        for row in states:
            checks = self.api.call("GET", "/api/v1/checks", params={
                "component": row["component"], "region": row["region"]})["checks"]
            last: dict[str, datetime] = {}
            for check in checks:
                at = datetime.fromisoformat(check["started_at"])
                last[check["location"]] = max(at, last.get(check["location"], at))
            self.locations |= set(last)
            expected = max(len(self.locations), IN_PROCESS_LOCATIONS)
            self.samples.append(Sample(
                self.clock.now(), row["component"], row["region"], row["state"],
                quorum_checked_at(last, expected),
                self.limits.get((row["component"], row["region"]))))

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=30)


class _Patient(RemoteApi):
    """The API, asked again for up to 15 s when it answers 503 (a SQLite instance busy with
    writes says so rather than waiting): a campaign must not die of a busy moment."""

    def __init__(self, server: str, token: str | None, clock: Clock) -> None:
        super().__init__(server, token)
        self.clock = clock

    def call(self, method: str, path: str, json: Any = None,
             params: dict[str, str] | None = None) -> Any:
        deadline = self.clock.monotonic() + 15
        while True:
            try:
                return super().call(method, path, json, params)
            except BellwetherError as exc:
                if not str(exc).startswith("503") or self.clock.monotonic() > deadline:
                    raise
                self.clock.sleep(0.3)


@dataclass
class World:
    """What the campaign can act on besides the API."""

    api: RemoteApi
    pagerduty: PagerDutyStandIn
    mail: MailSink
    agent: Process | None
    regions: tuple[str, ...]


class Campaign:
    """Plays a plan against a running instance; see the module docstring."""

    def __init__(self, world: World, clock: Clock, timing: Timing,
                 say: Callable[[str], None] = lambda _line: None) -> None:
        self.world, self.clock, self.timing, self.say = world, clock, timing, say
        self.api = _Patient(world.api.server, world.api.token, clock)
        self.stirring = ""

    # --- helpers --------------------------------------------------------------------------

    def wait(self, what: str, done: Callable[[], bool], timeout_s: float) -> bool:
        """Poll `done` (every 0.5 s) until it holds or the deadline passes."""
        deadline = self.clock.monotonic() + timeout_s
        while self.clock.monotonic() < deadline:
            try:
                if done():
                    return True
            except BellwetherError as exc:  # a busy instance answers again in a moment
                self.say(f"    ({what}: {exc})")
            self.clock.sleep(0.5)
        self.say(f"    … gave up waiting for {what} after {timeout_s:.0f} s")
        return False

    def hold(self, seconds: float) -> None:
        """Let a fault do its work for a while (the campaign's own pacing, not a wait for
        something to happen)."""
        self.clock.sleep(seconds)

    def inject(self, kind: str, region: str, service: str | None = None,
               value: float | None = None) -> int:
        body: dict[str, Any] = {"kind": kind, "region": region}
        if service:
            body["service"] = service
        if value is not None:
            body["value"] = value
        return int(self.api.call("POST", "/api/v1/faults", json=body)["id"])

    def clear(self, fault_id: int) -> None:
        self.api.call("DELETE", f"/api/v1/faults/{fault_id}")

    def triggers(self) -> int:
        return sum(1 for r in self.world.pagerduty.events()
                   if r.event.get("event_action") == "trigger")

    def quiet(self) -> bool:
        """No fault, no open incident, no pending delivery, no pair in an outage or without
        data (slow answers on a loaded machine are no incident and need no waiting for).
        What still stirs is kept in `self.stirring` for the give-up message."""
        self.stirring = self._stirring()
        return not self.stirring

    def _stirring(self) -> str:
        if self.api.call("GET", "/api/v1/faults").get("faults"):
            return "a fault is still injected"
        open_ = self.api.call("GET", "/api/v1/incidents", params={"state": "open"})
        if open_["incidents"]:
            states = self.api.call("GET", "/api/v1/states")["states"]
            unwell = [f"{r['component']} {r['region']} {r['state']}" for r in states
                      if r["state"] != "operational"]
            return "open: " + "; ".join(f"{i['id']} {i['title']} ({i.get('status')})"
                                         for i in open_["incidents"]) + \
                "; not operational: " + (", ".join(unwell) or "none")
        for status in ("pending", "sending"):
            rows = self.api.call("GET", "/api/v1/outbox", params={"status": status})["rows"]
            if rows:
                return f"{len(rows)} {status} deliveries, e.g. {rows[0]['key']}"
        states = self.api.call("GET", "/api/v1/states")["states"]
        stirring = [f"{r['component']} {r['region']} {r['state']}" for r in states
                    if r["state"] not in CALM_STATES]
        return ", ".join(stirring)

    # --- episodes -------------------------------------------------------------------------

    def play(self, plan: EpisodePlan) -> None:
        getattr(self, f"_{plan.kind}")(plan)

    def _overlap(self, plan: EpisodePlan) -> None:
        region = self.inject("region_down", plan.region)
        self.hold(self.timing.hold_s / 3)
        service = self.inject("service_down", plan.other_region, plan.component)
        self.hold(self.timing.hold_s * 2 / 3)
        self.clear(region)
        self.hold(self.timing.hold_s / 3)
        self.clear(service)

    def _flapping(self, plan: EpisodePlan) -> None:
        for _ in range(self.timing.flaps):
            fault = self.inject("error_rate", plan.region, plan.component, 1.0)
            self.hold(self.timing.flap_on_s)
            self.clear(fault)
            self.hold(self.timing.flap_off_s)

    def _escalation(self, plan: EpisodePlan) -> None:
        root = self.inject("service_down", plan.region, plan.component)
        before = self.triggers()
        self.wait("the Tier 2 page", lambda: self.triggers() > before, self.timing.hold_s * 2)
        auth = self.inject("auth_down", plan.region)
        self.hold(self.timing.hold_s)
        self.clear(auth)
        self.hold(self.timing.hold_s / 3)
        self.clear(root)

    def _pagerduty_away(self, plan: EpisodePlan) -> None:
        before = self.triggers()
        fault = self.inject("auth_down", plan.region)
        self.wait("the page", lambda: self.triggers() > before, self.timing.hold_s * 2)
        self.world.pagerduty.stop()
        self.say(f"    PagerDuty away for {self.timing.away_s:.0f} s")
        away_until = self.clock.monotonic() + self.timing.away_s
        try:
            self.hold(min(self.timing.hold_s, self.timing.away_s / 2))
            self.clear(fault)
            self.hold(max(0.0, away_until - self.clock.monotonic()))
        finally:
            self.world.pagerduty.start()
        self.say("    PagerDuty back on its port")

    def _probes_disabled(self, plan: EpisodePlan) -> None:
        probes = [p for p in self.api.call("GET", "/api/v1/probes")["probes"]
                  if p["component"] == plan.component and p.get("enabled", True)]
        for probe in probes:
            self.api.call("PUT", f"/api/v1/probes/{probe['name']}",
                          json={**_writable(probe), "enabled": False})
        try:
            self.wait(f"{plan.component} to show no_data", lambda: self._all_no_data(
                plan.component, {p["region"] for p in probes}), self.timing.quiet_timeout_s)
            self.hold(self.timing.hold_s / 2)
        finally:
            for probe in probes:
                self.api.call("PUT", f"/api/v1/probes/{probe['name']}",
                              json={**_writable(probe), "enabled": True})

    def _all_no_data(self, component: str, regions: set[str]) -> bool:
        states = self.api.call("GET", "/api/v1/states")["states"]
        return all(r["state"] == "no_data" for r in states
                   if r["component"] == component and r["region"] in regions)

    def _agent_killed(self, plan: EpisodePlan) -> None:
        agent = self.world.agent
        if agent is None:
            raise BellwetherError("the agent_killed episode needs an agent")
        before = self.triggers()
        agent.kill()
        self.say(f"    agent {AGENT_LOCATION} killed")
        self.wait("the agent's silence to be paged", lambda: self.triggers() > before,
                  self.timing.hold_s * 2)
        self.hold(self.timing.hold_s / 4)
        agent.start()
        self.say(f"    agent {AGENT_LOCATION} restarted")

    # --- the campaign ---------------------------------------------------------------------

    def run(self, seed: int, plans: Sequence[EpisodePlan]) -> CampaignResult:
        result = CampaignResult(seed, list(plans))
        regions = self.world.regions
        probes = self.api.call("GET", "/api/v1/probes")["probes"]
        interval = max([float(p["interval_s"]) for p in probes] or [1.0])
        limits = silence_limits(probes)
        result.silent_after_s = max(limits.values(), default=30.0)
        self.wait("calm before the campaign", self.quiet, self.timing.quiet_timeout_s)
        silence = Silence(self.world.api, self.clock, self.timing.sample_every_s, limits)
        silence.start()
        result.started_at = self.clock.now()
        try:
            for index, plan in enumerate(plans):
                start = self.clock.now()
                self.say(f"episode {index} ({plan.kind}): {plan.title}")
                result.episodes.append(Episode(index, plan.kind, start, plan.pages(regions),
                                               plan.roots(regions),
                                               self.timing.notice_interval_s))
                self.play(plan)
                if not self.wait("quiet after the episode", self.quiet,
                                 self.timing.quiet_timeout_s):
                    result.notes.append(f"episode {index} did not come to quiet in "
                                        f"{self.timing.quiet_timeout_s:.0f} s: "
                                        f"{self.stirring}")
                    self.say(f"    still stirring: {self.stirring}")
                if index + 1 < len(plans):  # the next episode must not reopen this one
                    self.hold(self.timing.reopen_s + 2 * interval)
        finally:
            silence.stop()
            if not self.world.pagerduty.up:
                self.world.pagerduty.start()
        result.ended_at = self.clock.now()
        result.samples = silence.samples
        if silence.errors:
            result.notes.append(f"{silence.errors} sample(s) failed to reach the API")
        self._collect(result)
        return result

    def _collect(self, result: CampaignResult) -> None:
        """Everything the stand-ins received, nothing left out but the subscriptions'
        confirmations before the first episode (the set-up, not a notice)."""
        result.pages = [PageEvent(r.at, str(r.event.get("routing_key")),
                                  str(r.event.get("dedup_key")),
                                  str(r.event.get("event_action")))
                        for r in self.world.pagerduty.events()]
        first = result.episodes[0].start if result.episodes else None
        for mail in self.world.mail.mails():
            if mail.subject == CONFIRM_SUBJECT and first is not None and mail.at < first:
                result.setup_mails += 1
                continue
            named = INCIDENT_LINK.search(mail.text)
            result.notices.append(Notice(mail.at, mail.recipient, mail.subject,
                                         int(named.group(1)) if named else None))
        result.violations = check_campaign(result.episodes, result.pages, result.notices,
                                           result.samples, result.silent_after_s)
        result.figures = counts(result.episodes, result.pages, result.notices)


def silence_limits(probes: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], float]:
    """Per pair, how long without a quorum's check before it must show no_data: the
    evaluator's own freshness (3 intervals + the probe's timeout) plus 10 s (or 5
    intervals) for its pass, the write of the checks and this sampler's own lag.

    >>> silence_limits([{"component": "a", "region": "r", "interval_s": 1, "timeout_s": 15}])
    {('a', 'r'): 28.0}
    """
    limits: dict[tuple[str, str], float] = {}
    for probe in probes:
        interval = float(probe["interval_s"])
        limit = 3 * interval + float(probe.get("timeout_s", 10.0)) + max(10.0, 5 * interval)
        pair = (str(probe["component"]), str(probe["region"]))
        limits[pair] = max(limit, limits.get(pair, 0.0))
    return limits


def _writable(probe: Mapping[str, Any]) -> dict[str, Any]:
    """A probe as `PUT /api/v1/probes/<name>` takes it back."""
    return {k: v for k, v in probe.items() if k not in ("source",)}


# --- the whole world, for the CLI, the e2e test and the benchmark ---------------------------

@dataclass
class Setup:
    """Where and how to start the instance of a campaign."""

    work: Path
    database_url: str | None = None
    regions: tuple[str, ...] = ("europe-west1.gcp", "us-central1.gcp")
    subscribers: int = 3
    timing: Timing = field(default_factory=Timing)
    with_agent: bool = True
    kinds: tuple[str, ...] = KINDS
    token: str = "bw_chaos_admin_token_0123456789"


def _config(setup: Setup) -> Path:
    timing = setup.timing
    path = setup.work / "bellwether.toml"
    path.write_text("backup_interval_minutes = 100000\n"
                    f"incident_reopen_s = {timing.reopen_s}\n"
                    f"notice_settle_s = {timing.settle_s}\n"
                    f"notice_interval_s = {timing.notice_interval_s}\n", encoding="utf-8")
    return path


def _subscribe(api: RemoteApi, mail: MailSink, regions: Sequence[str], n: int,
               clock: Clock, say: Callable[[str], None]) -> list[str]:
    """Email subscribers the real way: subscribe, then follow the link in the mail."""
    import httpx

    addresses = [f"oncall-watcher-{i}@example.test" for i in range(n)]
    for address in addresses:
        api.call("POST", "/api/v1/subscribers", json={"kind": "email", "address": address,
                                                     "regions": list(regions)})
    deadline = clock.monotonic() + 60
    confirmed: set[str] = set()
    while len(confirmed) < n and clock.monotonic() < deadline:
        for message in mail.mails():
            if message.recipient in confirmed or message.subject != CONFIRM_SUBJECT:
                continue
            link = re.search(r"https?://\S+/subscribe/confirm/\S+", message.text)
            if link:
                httpx.get(link.group(0), timeout=10, follow_redirects=True)
                confirmed.add(message.recipient)
        clock.sleep(0.2)
    say(f"{len(confirmed)} of {n} email subscriber(s) confirmed")
    return sorted(confirmed)


def run_campaign(setup: Setup, seed: int, episodes: int, clock: Clock | None = None,
                 say: Callable[[str], None] = lambda _line: None) -> CampaignResult:
    """Start the world in `setup.work`, play seed `seed`, stop everything; the result."""
    clock = clock or SystemClock()
    setup.work.mkdir(parents=True, exist_ok=True)
    cert, key = self_signed(setup.work)
    pagerduty = PagerDutyStandIn(cert, key, clock)
    mail = MailSink(clock)
    port = free_port()
    env = {**base_env(setup.work / "data"),
           "BELLWETHER_HTTP_PORT": str(port), "BELLWETHER_ADMIN_TOKEN": setup.token,
           "BELLWETHER_CONFIG": str(_config(setup)), "BELLWETHER_PROBE_INTERVAL_S": "1",
           "BELLWETHER_REGIONS": ",".join(setup.regions),
           "BELLWETHER_SECRET_KEY": "chaos-secret",
           "BELLWETHER_PAGERDUTY_EVENTS_URL": pagerduty.url,
           "BELLWETHER_PAGERDUTY_CA_BUNDLE": str(cert),
           "BELLWETHER_PAGERDUTY_ROUTING_KEY_TIER1": ROUTING[1],
           "BELLWETHER_PAGERDUTY_ROUTING_KEY_TIER2": ROUTING[2],
           "BELLWETHER_SMTP_URL": mail.url}
    if setup.database_url:
        env["BELLWETHER_DATABASE_URL"] = setup.database_url
    url = f"http://127.0.0.1:{port}"
    up = Process(("up",), env)
    agent = Process(("agent", "--location", AGENT_LOCATION, "--server", url, "--token",
                     setup.token, "--spool-dir", str(setup.work / "spool")),
                    {**env, "BELLWETHER_DATA_DIR": str(setup.work / "agent")},
                    ready=re.compile("probing from"))
    pagerduty.start()
    mail.start()
    try:
        up.start()
        say(f"bellwether up at {url} (regions {', '.join(setup.regions)}, 1 s probes)")
        if setup.with_agent:
            agent.start()
            say(f"agent {AGENT_LOCATION} probing")
        api = RemoteApi(url, setup.token)
        _subscribe(api, mail, setup.regions, setup.subscribers, clock, say)
        world = World(api, pagerduty, mail, agent if setup.with_agent else None,
                      setup.regions)
        plans = plan_campaign(seed, episodes, setup.regions, setup.kinds)
        result = Campaign(world, clock, setup.timing, say).run(seed, plans)
    finally:
        agent.stop()
        code = up.stop()
        pagerduty.stop()
        mail.stop()
        (setup.work / "up.log").write_text("\n".join(up.lines), encoding="utf-8")
    if code not in (0, None):
        result.notes.append(f"bellwether up exited with {code}")
    return result


def run_campaign_command(seed: int, episodes: int, database_url: str | None,
                         out_dir: Path | None, say: Callable[[str], None]) -> bool:
    """`bellwether drill chaos`: the campaign in a temporary directory; the JSON result in
    `out_dir` (default: the working directory's `chaos-<seed>.json`)."""
    with tempfile.TemporaryDirectory(prefix="bellwether-chaos-") as work:
        result = run_campaign(Setup(Path(work), database_url), seed, episodes, say=say)
    say(result.summary())
    target = (out_dir or Path(".")) / f"chaos-{seed}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result.to_json(), indent=2), encoding="utf-8")
    say(f"saved {target}")
    return result.passed


def window(result: CampaignResult) -> timedelta:
    """How long the campaign ran."""
    if result.started_at is None or result.ended_at is None:
        return timedelta(0)
    return result.ended_at - result.started_at
