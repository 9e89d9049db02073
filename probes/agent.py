"""A remote probe location: `bellwether agent` runs the catalogue from afar and reports in.

1. At start the agent asks the server for the regions, the probe project's credentials and
   the probes, retrying with backoff until the server answers or a deadline passes.
2. The same ProbeScheduler and run_check as `bellwether up` run each probe from this one
   location (with `--shard i/N`, only this process's share: N agents of one location, each
   with its own spool, run every probe once). There are no partition faults: a remote
   agent's network is the real one. Checks go to the disk spool (probes/spool.py), never
   straight to the network.
3. A sender thread drains the spool to `POST /api/v1/ingest`, backing off while the server
   is away. Every `refresh_s` the catalogue is fetched again and applied, and at once when a
   heartbeat's answer names a new catalogue version (a probe disabled through the admin API
   stops here within a probe interval); the agent says so when slots were skipped or checks
   waited too long for a runner slot (saturated: it needs more shards).
4. A heartbeat thread tells the server the agent is alive every probe interval (the
   server's, from its answer), with or without checks to send; every ingest batch names
   the agent too. A heartbeat the server does not get is not spooled: the next one says
   the same. At start the first heartbeat must be accepted: a token not issued for this
   location is refused there (403), not after a spool of checks has piled up.
5. Every ingest answer carries the re-checks the other locations' first failures ask of
   this one (`probes.relay`): the scheduler runs them at once, each once, as `bellwether up`
   re-checks its other locations, instead of waiting up to an interval for their slots.
   With nothing sent for `recheck_poll_s`, the sender asks with an empty batch.
6. On stop, the scheduler stops (checks in flight finish and are spooled) and the sender
   makes a last attempt. Whatever it could not send stays on disk for the next start. A
   last heartbeat then says `stopping`: the server shows the agent stopped, not silent,
   and pages nobody.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import httpx

from core.clock import Clock
from core.errors import BellwetherError
from core.servers import wait_until_stopped
from probes.checks import CheckResult
from probes.heartbeats import Heartbeat, agent_name
from probes.locations import EVERY_JOB, ProbeScheduler, Shard
from probes.metrics import ProbeMetrics
from probes.relay import HeardRequests, RecheckRequest, request_from_json
from probes.runner import Credentials, RunContext
from probes.specs import InvalidProbe, ProbeSpec, parse_probe
from probes.spool import (
    CheckSender,
    DeliveryError,
    DrainResult,
    Spool,
    SpoolSink,
    retry_delay,
)

log = logging.getLogger("bellwether.agent")
VERSION = "0.1"
USER_AGENT = f"bellwether-agent/{VERSION}"
DEFAULT_HEARTBEAT_S = 30.0  # until the server says its probe interval
PERMANENT_STATUSES = frozenset({400, 413, 422})  # the same batch will be refused again
Say = Callable[[str], None]


class ServerUnreachable(BellwetherError):
    status = 503
    code = "server_unreachable"


@dataclass(frozen=True)
class AgentConfig:
    """How one agent runs; `bellwether agent` builds it from its options."""

    location: str
    server: str
    token: str
    spool_dir: Path
    patterns: tuple[str, ...] = ()
    refresh_s: float = 60.0
    drain_period_s: float = 1.0
    retry_cap_s: float = 30.0
    connect_timeout_s: float = 120.0
    final_drain_s: float = 10.0
    request_timeout_s: float = 10.0
    segment_bytes: int = 1 << 20
    shard: Shard = EVERY_JOB
    #: Seconds between heartbeats; None: the server's probe interval.
    heartbeat_s: float | None = None
    #: The DNS resolver this location asks (address, port); None: the system's.
    resolver: tuple[str, int] | None = None
    #: Seconds without a send after which the agent asks for relayed re-checks anyway.
    recheck_poll_s: float = 2.0

    @property
    def identity(self) -> Heartbeat:
        """Who this agent is to the server: one name per location and shard."""
        return Heartbeat(agent_name(self.location, self.shard.index, self.shard.count),
                         self.location, VERSION)


@dataclass(frozen=True, slots=True)
class Catalogue:
    """What the server tells an agent: the probes, where each region is, how to log in."""

    probes: tuple[ProbeSpec, ...]
    routers: Mapping[str, str]
    credentials: Mapping[str, Credentials]


def wanted(spec: ProbeSpec, patterns: Sequence[str]) -> bool:
    """Whether the agent runs `spec`: enabled, and named by a pattern when any are given."""
    return spec.enabled and (not patterns or any(fnmatchcase(spec.name, p) for p in patterns))


def saturation_note(skipped: int, late: int) -> str | None:
    """What to tell the operator when one core no longer runs this agent's checks on time."""
    if not (skipped or late):
        return None
    return (f"saturated: {late} checks waited for a runner slot longer than a tenth of their "
            f"interval and {skipped} slots were skipped since the last report; run more "
            "shards (--shard i/N) or fewer probes here")


def _http_client(server: str, token: str, timeout_s: float) -> httpx.Client:
    return httpx.Client(base_url=server.rstrip("/"), timeout=timeout_s,
                        headers={"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT})


def _failure(response: httpx.Response) -> DeliveryError:
    """A non-2xx answer; 401, 403 and 404 are permanent for questions (a wrong token or URL)."""
    return DeliveryError(f"HTTP {response.status_code} from {response.request.url.path}: "
                         f"{response.text[:200]}",
                         permanent=response.status_code in {401, 403, 404})


class ServerApi:
    """The agent's questions to the server: regions, probe credentials, the catalogue."""

    def __init__(self, server: str, token: str, timeout_s: float = 10.0) -> None:
        self._client = _http_client(server, token, timeout_s)

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        try:
            response = self._client.get(path, params=params)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise _failure(response)
        try:
            return response.json()
        except ValueError:
            raise DeliveryError(f"{path} did not answer JSON") from None

    def routers(self) -> dict[str, str]:
        """Region name → its router's base URL (regions without a router are left out)."""
        regions = self._get("/api/v1/regions")["regions"]
        return {str(r["name"]): str(r["router_url"]) for r in regions if r.get("router_url")}

    def credentials(self, region: str) -> Credentials:
        body = self._get("/api/v1/commerce/probe-credentials", {"region": region})
        return Credentials(str(body["client_id"]), str(body["client_secret"]),
                           str(body["project_key"]))

    def probes(self, regions: Sequence[str]) -> list[ProbeSpec]:
        """Every probe the server has; one it cannot parse is skipped and logged, not fatal."""
        probes = []
        for raw in self._get("/api/v1/probes")["probes"]:
            try:
                probes.append(parse_probe(raw, regions, source=str(raw.get("source") or "server")))
            except InvalidProbe as exc:
                log.warning("skipping probe from the server: %s", exc.detail)
        return probes

    def close(self) -> None:
        self._client.close()


@dataclass(frozen=True, slots=True)
class BeatAnswer:
    """The server's answer to a heartbeat: its probe interval and catalogue version."""

    interval_s: float | None
    catalogue_version: str | None


class HeartbeatSender:
    """`POST /api/v1/agents/heartbeat`, on a client of its own (it runs on its own thread)."""

    def __init__(self, server: str, token: str, identity: Heartbeat,
                 timeout_s: float = 10.0) -> None:
        self.identity = identity
        self._client = _http_client(server, token, timeout_s)

    def send(self, stopping: bool = False) -> BeatAnswer:
        """Report in (or say this agent is stopping); what the server answered."""
        identity = replace(self.identity, stopping=stopping)
        try:
            response = self._client.post("/api/v1/agents/heartbeat", json=identity.to_json())
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise _failure(response)
        try:
            body = response.json()
            interval, version = body.get("interval_s"), body.get("catalogue_version")
        except (ValueError, AttributeError):
            return BeatAnswer(None, None)
        return BeatAnswer(
            float(interval) if isinstance(interval, int | float) and interval > 0 else None,
            version if isinstance(version, str) else None)

    def close(self) -> None:
        self._client.close()


def rechecks_in(response: httpx.Response) -> list[RecheckRequest]:
    """The re-checks an ingest answer asks for; none from a server that sends none."""
    try:
        listed = response.json().get("rechecks")
    except (ValueError, AttributeError):
        return []
    if not isinstance(listed, list):
        return []
    return [asked for raw in listed if (asked := request_from_json(raw)) is not None]


class IngestSender:
    """A `CheckSender` over `POST /api/v1/ingest`; a 2xx answer means the batch is stored.

    A 403 (a token not issued for this location) is not permanent: the checks stay in the
    spool until the agent runs with the right token. Every answer's re-checks go to
    `on_answer` (called with an empty list when there are none).
    """

    def __init__(self, server: str, token: str, timeout_s: float = 10.0,
                 identity: Heartbeat | None = None,
                 on_answer: Callable[[list[RecheckRequest]], None] | None = None) -> None:
        self._client = _http_client(server, token, timeout_s)
        self.identity = identity
        self.on_answer = on_answer

    def send(self, checks: Sequence[Mapping[str, Any]]) -> int:
        self._post(list(checks))
        return len(checks)

    def ask_for_rechecks(self) -> None:
        """An empty batch: the answer's re-checks, without waiting for checks to send."""
        self._post([])

    def _post(self, checks: list[Mapping[str, Any]]) -> None:
        body: dict[str, Any] = {"checks": checks}
        if self.identity is not None:
            body["agent"] = self.identity.to_json()
        try:
            response = self._client.post("/api/v1/ingest", json=body)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise DeliveryError(f"HTTP {response.status_code}: {response.text[:200]}",
                                permanent=response.status_code in PERMANENT_STATUSES)
        if self.on_answer is not None:
            self.on_answer(rechecks_in(response))

    def close(self) -> None:
        self._client.close()


def fetch_catalogue(api: ServerApi, patterns: Sequence[str]) -> Catalogue:
    """Regions, credentials and the wanted probes, in one go; raises DeliveryError."""
    routers = api.routers()
    credentials = {region: api.credentials(region) for region in routers}
    probes = tuple(p for p in api.probes(list(routers)) if wanted(p, patterns))
    return Catalogue(probes, routers, credentials)


class SpoolDrainer:
    """The sender thread: drains the spool every period, backing off while sends fail."""

    SEGMENTS_PER_PASS = 16  # a long backlog reports progress between passes

    def __init__(self, spool: Spool, sender: CheckSender, period_s: float = 1.0,
                 retry_cap_s: float = 30.0, on_drained: Callable[[int], None] | None = None,
                 say: Say | None = None, on_recovered: Callable[[], None] | None = None,
                 on_idle: Callable[[], None] | None = None) -> None:
        self.spool, self.sender = spool, sender
        self.period_s, self.retry_cap_s = period_s, retry_cap_s
        self.on_drained, self.on_recovered = on_drained, on_recovered
        self.on_idle = on_idle  # after a pass with nothing to send
        self.say: Say = say or log.info
        self.failures = 0  # failed passes in a row
        self.failed_passes = 0
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="spool-drainer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop after the send in progress (bounded by the request timeout)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def drain_once(self, keep_going: Callable[[], bool] | None = None) -> DrainResult:
        """One pass; counts what went out and says so when a backlog moved or sends fail."""
        backlog = len(self.spool.sealed_segments)
        result = self.spool.drain(self.sender, keep_going, max_segments=self.SEGMENTS_PER_PASS)
        self.sent += result.sent
        if result.sent and self.on_drained is not None:
            self.on_drained(result.sent)
        self._report(result, backlog)
        if self.failures and not result.failed and self.on_recovered is not None:
            self.on_recovered()
        self.failures = self.failures + 1 if result.failed else 0
        self.failed_passes += result.failed
        return result

    def _report(self, result: DrainResult, backlog: int) -> None:
        pending = self.spool.pending_checks
        if result.failed and self.failures == 0:
            self.say(f"cannot deliver checks ({result.error}); {pending} spooled, "
                     "retrying with backoff")
        elif result.sent and (self.failures or backlog > 1):
            self.say(f"drained {result.sent} checks from {result.segments} segment(s); "
                     f"{pending} still spooled")

    def _loop(self) -> None:
        while True:
            result = self.drain_once(keep_going=lambda: not self._stop.is_set())
            if not (result.sent or result.failed) and self.on_idle is not None:
                self.on_idle()
            if result.failed:
                delay = retry_delay(self.failures, cap_s=self.retry_cap_s)
            elif result.segments >= self.SEGMENTS_PER_PASS:
                delay = 0.0  # more backlog waits
            else:
                delay = self.period_s
            if self._stop.wait(delay):
                return


class Agent:
    """One remote location: spool, sender thread, scheduler and catalogue refresh together.

    `start()` returns False when `request_stop()` came first; `stop()` always cleans up and
    returns how many checks are left in the spool.
    """

    def __init__(self, config: AgentConfig, clock: Clock, metrics: ProbeMetrics | None = None,
                 say: Say | None = None,
                 on_spooled: Callable[[Sequence[CheckResult]], None] | None = None) -> None:
        self.config, self.clock = config, clock
        self.metrics = metrics or ProbeMetrics()
        self.say: Say = say or log.info
        self.on_spooled = on_spooled
        self.spool = Spool(config.spool_dir, config.segment_bytes)
        self.api = ServerApi(config.server, config.token, config.request_timeout_s)
        self.sender = IngestSender(config.server, config.token, config.request_timeout_s,
                                   identity=config.identity, on_answer=self._answered)
        self.heartbeats = HeartbeatSender(config.server, config.token, config.identity,
                                          config.request_timeout_s)
        self.heartbeat_s = config.heartbeat_s or DEFAULT_HEARTBEAT_S
        self.heartbeats_sent = 0
        self.catalogue_version: str | None = None
        self.drainer = SpoolDrainer(self.spool, self.sender, config.drain_period_s,
                                    config.retry_cap_s, on_drained=self._drained, say=self.say,
                                    on_recovered=self.refresh_soon,
                                    on_idle=self._ask_for_rechecks)
        self.catalogue = Catalogue((), {}, {})
        self.scheduler: ProbeScheduler | None = None
        self.heard = HeardRequests()
        self.relayed = 0  # re-check requests of other locations acted on
        self._answered_at = float("-inf")  # monotonic: the server's last ingest answer
        self._stop = threading.Event()
        self._refresh_now = threading.Event()
        self._stopped = False
        self._saturation_seen = (0, 0)  # (skipped, late) at the last report
        self._refresher = threading.Thread(target=self._refresh_loop, name="agent-refresh",
                                           daemon=True)
        self._heart = threading.Thread(target=self._heartbeat_loop, name="agent-heartbeat",
                                       daemon=True)

    def _spooled(self, checks: Sequence[CheckResult]) -> None:
        self.metrics.spooled.labels(self.config.location).inc(len(checks))
        if self.on_spooled is not None:
            self.on_spooled(checks)

    def _drained(self, count: int) -> None:
        self.metrics.drained.labels(self.config.location).inc(count)

    def _answered(self, rechecks: list[RecheckRequest]) -> None:
        """An ingest answer (on the sender thread): run the re-checks asked of us, once each.
        Those heard before the scheduler runs are left for a later answer to repeat."""
        self._answered_at = self.clock.monotonic()
        if self.scheduler is None:
            return
        for asked in self.heard.new(rechecks):
            self.relayed += 1
            self.scheduler.confirm_pair(asked.component, asked.region)

    def _ask_for_rechecks(self) -> None:
        """With nothing sent for `recheck_poll_s`, ask with an empty batch; a failure is
        left to the next pass (the sender reports the server's absence when it matters)."""
        if self.clock.monotonic() - self._answered_at < self.config.recheck_poll_s:
            return
        try:
            self.sender.ask_for_rechecks()
        except DeliveryError as exc:
            log.debug("asking for re-checks failed: %s", exc)

    def request_stop(self) -> None:
        """Ask the agent to stop (safe from a signal handler); `wait()` then returns."""
        self._stop.set()
        self._refresh_now.set()

    def refresh_soon(self) -> None:
        """Fetch the catalogue now, not at the next period: a server back from a restart may
        have moved its regions' endpoints."""
        self._refresh_now.set()

    def wait(self) -> None:
        """Until stopped (a signal handler calls `request_stop`)."""
        wait_until_stopped(self._stop)

    def start(self) -> bool:
        """Drain leftovers, fetch the catalogue (retrying), start probing and refreshing."""
        self.drainer.start()
        catalogue = self._connect()
        if catalogue is None:
            return False
        self.catalogue = catalogue
        context = RunContext(self.config.location, self._router_url, self._credentials_for,
                             self.clock, resolver=self.config.resolver)
        self.scheduler = ProbeScheduler(catalogue.probes, [context],
                                        SpoolSink(self.spool, self._spooled), self.clock,
                                        is_cut=lambda _location, _region: False,
                                        observe=self.metrics.observe_check,
                                        shard=self.config.shard)
        self.scheduler.on_skip = self.metrics.skipped.inc
        self.scheduler.on_late = self.metrics.late.inc
        self.scheduler.start()
        self._refresher.start()
        self._heart.start()
        shard = self.config.shard
        mine = "" if shard.count == 1 else (f"; shard {shard} runs "
                                            f"{len(self.scheduler.owned_jobs())} of them")
        self.say(f"catalogue: {len(catalogue.probes)} probes in {len(catalogue.routers)} "
                 f"regions{mine}")
        return True

    def _router_url(self, region: str) -> str | None:
        return self.catalogue.routers.get(region)

    def _credentials_for(self, region: str) -> Credentials | None:
        return self.catalogue.credentials.get(region)

    def _connect(self) -> Catalogue | None:
        """The catalogue, asked for with backoff until the deadline; None when told to stop."""
        deadline = self.clock.monotonic() + self.config.connect_timeout_s
        failures = 0
        while True:
            try:
                catalogue = fetch_catalogue(self.api, self.config.patterns)
                self.beat()
                return catalogue
            except DeliveryError as exc:
                if exc.permanent:
                    raise BellwetherError(f"the server at {self.config.server} refused the "
                                          f"agent: {exc}") from None
                failures += 1
                delay = retry_delay(failures, cap_s=self.config.retry_cap_s)
                if self.clock.monotonic() + delay > deadline:
                    raise ServerUnreachable(
                        f"no answer from {self.config.server} within "
                        f"{self.config.connect_timeout_s:g} s: {exc}") from None
                self.say(f"waiting for the server ({exc}); next try in {delay:g} s")
                if self._stop.wait(delay):
                    return None

    def beat(self) -> None:
        """One heartbeat; raises DeliveryError. The server's answer sets the period."""
        answer = self.heartbeats.send()
        self.heartbeats_sent += 1
        if answer.interval_s is not None and self.config.heartbeat_s is None:
            self.heartbeat_s = answer.interval_s
        version, self.catalogue_version = self.catalogue_version, answer.catalogue_version
        if version is not None and answer.catalogue_version not in (None, version):
            self.refresh_soon()

    def _heartbeat_loop(self) -> None:
        failing = False
        while not self._stop.wait(self.heartbeat_s):
            try:
                self.beat()
            except DeliveryError as exc:
                if not failing:
                    self.say(f"heartbeat failed ({exc}); trying again every "
                             f"{self.heartbeat_s:g} s")
                failing = True
                continue
            if failing:
                self.say("heartbeats are getting through again")
            failing = False

    def refresh(self) -> bool:
        """Fetch the catalogue again and apply it; on failure keep the one we have."""
        try:
            catalogue = fetch_catalogue(self.api, self.config.patterns)
        except DeliveryError as exc:
            self.say(f"catalogue refresh failed ({exc}); "
                     f"keeping {len(self.catalogue.probes)} probes")
            return False
        previous, self.catalogue = self.catalogue, catalogue
        if catalogue.routers != previous.routers:
            self.say("region endpoints changed: " + ", ".join(
                f"{region}={url}" for region, url in sorted(catalogue.routers.items())))
        if catalogue.probes != previous.probes and self.scheduler is not None:
            self.scheduler.replace_probes(catalogue.probes)
            self.say(f"catalogue changed: {len(catalogue.probes)} probes")
        return True

    def _refresh_loop(self) -> None:
        while True:
            self._refresh_now.wait(self.config.refresh_s)
            self._refresh_now.clear()
            if self._stop.is_set():
                return
            self.refresh()
            self.report_saturation()

    def report_saturation(self) -> bool:
        """Say so when slots were skipped or checks waited too long since the last report;
        whether it did."""
        if self.scheduler is None:
            return False
        seen = (self.scheduler.skipped, self.scheduler.late)
        note = saturation_note(seen[0] - self._saturation_seen[0],
                               seen[1] - self._saturation_seen[1])
        self._saturation_seen = seen
        if note is not None:
            self.say(note)
        return note is not None

    def _say_stopping(self) -> None:
        """A last heartbeat, after the last batch (any later word reads as back): stopped on
        purpose, not silent. Best effort: an agent that cannot say so is paged as silent."""
        if self.scheduler is None:
            return
        try:
            self.heartbeats.send(stopping=True)
        except DeliveryError as exc:
            self.say(f"could not tell the server this agent stops ({exc})")

    def stop(self) -> int:
        """Stop probing, spool the checks in flight, try a last drain; the checks left."""
        self.request_stop()
        if not self._stopped:
            self._stopped = True
            if self._refresher.is_alive():
                self._refresher.join(timeout=60)
            if self._heart.is_alive():
                self._heart.join(timeout=60)
            if self.scheduler is not None:
                self.scheduler.stop()
            self.drainer.stop()
            self.spool.seal()
            deadline = self.clock.monotonic() + self.config.final_drain_s
            self.drainer.drain_once(keep_going=lambda: self.clock.monotonic() < deadline)
            self._say_stopping()
            self.sender.close()
            self.heartbeats.close()
            self.api.close()
            self.spool.close()
        return self.spool.pending_checks
