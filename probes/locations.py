"""Probe locations at work: every probe from every location at its interval.

One asyncio loop on its own thread runs APScheduler's AsyncIOScheduler; each (probe,
location) is a job whose first run is spread across its interval, so probes do not fire
in bursts. Missed runs are coalesced (a missed slot is "no data", never "up"); each check
records its intended slot and its real start, whose difference is the scheduler lag.

One process runs checks on one core (the GIL), so a location with more checks per second
than a core can run is split into shards: `Shard(i, n)` owns the jobs whose
`crc32(job_id) % n == i`, and n processes with shards 0..n-1 run every job exactly once.
A check that waits for a free runner slot longer than a tenth of its interval is counted
(`late`): the location is saturated, and the count says so before the SLA sees gaps.

Confirm fast, probe slow: after a failed check the job re-checks every `retry_interval_s`
until its failure run is confirmed or a check passes, and the first failure of a run also
asks the other locations of that (component, region) to re-check right away (Better
Stack's "confirm from other locations"). A region outage at a 30 s interval is confirmed
a few seconds after the first location sees it, not two intervals later. The extra checks
are ordinary checks (`Confirmations` decides which; the scheduler runs them). A remote agent
runs one location: the server relays the other locations' first failures to it
(`probes.relay`), and `confirm_pair` asks the same of its jobs as a local first failure.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import httpx
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.clock import Clock
from probes.checks import CheckResult
from probes.relay import starts_failure_run
from probes.runner import RunContext, make_client, run_check
from probes.specs import ProbeSpec

log = logging.getLogger("bellwether.probes")
DEFAULT_LOCATIONS = ("loc-a", "loc-b", "loc-c")


LATE_FRACTION = 0.1  # of the interval: a wait for a runner slot beyond it is saturation


@dataclass(frozen=True, slots=True)
class Shard:
    """Which of a location's jobs one process runs: those with `crc32(job_id) % count == index`.

    >>> Shard.parse("1/4").owns("checkout.eu@loc-a"), Shard(2, 4).owns("checkout.eu@loc-a")
    (True, False)
    """

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index}/{self.count}: need 0 ≤ index < count")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`"i/n"`, as `bellwether agent --shard` takes it; ValueError says what is wrong."""
        index, slash, count = text.partition("/")
        if not slash or not index.strip().isdigit() or not count.strip().isdigit():
            raise ValueError(f"write the shard as INDEX/COUNT, like 0/2, not {text!r}")
        return cls(int(index), int(count))

    def owns(self, job_id: str) -> bool:
        """Whether this shard runs `job_id`; stable across processes and restarts."""
        return self.count == 1 or zlib.crc32(job_id.encode()) % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


EVERY_JOB = Shard(0, 1)  # one process runs the whole location


class CheckSink(Protocol):
    """Where finished checks go: the database writer, an agent's spool, a test's list."""

    def put(self, checks: Sequence[CheckResult]) -> None: ...


def spread_offset(probe: str, location: str, interval_s: int) -> float:
    """A stable offset within the interval, so that jobs start spread out, not in bursts."""
    return (zlib.crc32(f"{probe}@{location}".encode()) % (interval_s * 1000)) / 1000


def intended_slot(first: datetime, interval_s: int, now: datetime) -> datetime:
    """The latest scheduled slot at or before `now` of a job that started at `first`."""
    if now <= first:
        return first
    slots = int((now - first).total_seconds() // interval_s)
    return first + timedelta(seconds=slots * interval_s)


def waited_too_long(wait_s: float, interval_s: int) -> bool:
    """Whether a check's wait for a runner slot means the location is saturated."""
    return wait_s > interval_s * LATE_FRACTION


@dataclass(frozen=True, slots=True)
class Recheck:
    """A confirmation check to run: which job, and after how many seconds."""

    job_id: str
    delay_s: float


class Confirmations:
    """Which confirmation re-checks a finished check asks for (pure: no loop, no clock).

    A failure that leaves its job's run short of `confirmations` re-checks the job after
    `retry_interval_s`; the first failure of a run (`probes.relay.starts_failure_run`) also
    re-checks, at once, the jobs of the same (component, region) that are not failing
    (`pair_jobs`, through `asked`). A pass ends the run. An agent, one location, hears of
    the first failures at the others from the server and asks the same of its own jobs.

    >>> c = Confirmations(confirmations=2, retry_interval_s=5)
    >>> c.after("p@a", False, ["p@a", "p@b"])
    [Recheck(job_id='p@a', delay_s=5), Recheck(job_id='p@b', delay_s=0.0)]
    >>> c.after("p@a", False, ["p@a", "p@b"]), c.after("p@b", True, ["p@a", "p@b"])
    ([], [])
    >>> c.asked(["p@a", "p@b"])
    [Recheck(job_id='p@b', delay_s=0.0)]
    """

    def __init__(self, confirmations: int, retry_interval_s: float) -> None:
        self.confirmations = confirmations
        self.retry_interval_s = retry_interval_s
        self.runs: dict[str, int] = {}

    def after(self, job_id: str, ok: bool, pair_jobs: Sequence[str]) -> list[Recheck]:
        first = starts_failure_run(ok, previous_ok=not self.runs.get(job_id))
        if ok:
            self.runs.pop(job_id, None)
            return []
        run = self.runs[job_id] = self.runs.get(job_id, 0) + 1
        wanted = []
        if run < self.confirmations:
            wanted.append(Recheck(job_id, self.retry_interval_s))
        if first:
            wanted += self.asked([other for other in pair_jobs if other != job_id])
        return wanted

    def asked(self, jobs: Sequence[str]) -> list[Recheck]:
        """What a first failure of the pair asks of `jobs`: a re-check at once of each one
        not failing already (a failing one is confirming on its own)."""
        return [Recheck(job_id, 0.0) for job_id in jobs if not self.runs.get(job_id)]


class ProbeScheduler:
    """Runs probes × locations (this process's `shard` of them) on one asyncio loop.

    Results go to `sink`. `skipped` counts slots APScheduler skipped or missed (no data);
    `late` counts checks that waited for a runner slot longer than a tenth of their
    interval. Both grow only when the location has more work than one core can do.
    """

    def __init__(self, probes: Sequence[ProbeSpec], contexts: Sequence[RunContext],
                 sink: CheckSink, clock: Clock, is_cut: Callable[[str, str], bool],
                 concurrency: int = 32,
                 observe: Callable[[CheckResult, float], None] | None = None,
                 shard: Shard = EVERY_JOB, confirmations: int = 2,
                 retry_interval_s: float = 5.0) -> None:
        self.probes = {probe.name: probe for probe in probes if probe.enabled}
        self.confirming = Confirmations(confirmations, retry_interval_s)
        self.rechecks = 0  # confirmation checks run (ordinary checks, counted apart)
        self._pending: set[str] = set()  # jobs with a confirmation check due
        self._scheduled = 0
        self.contexts = {ctx.location: ctx for ctx in contexts}
        self.sink, self.clock, self.is_cut = sink, clock, is_cut
        self.concurrency = concurrency
        self.observe = observe
        self.shard = shard
        self.lags: deque[float] = deque(maxlen=10_000)
        self.skipped = 0
        self.late = 0
        self.waiting = 0  # checks waiting for a runner slot right now
        self.on_skip: Callable[[], None] | None = None
        self.on_late: Callable[[], None] | None = None
        self._firsts: dict[str, datetime] = {}
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="probe-loop",
                                        daemon=True)
        self._scheduler: AsyncIOScheduler | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._stopping = False

    @property
    def in_flight(self) -> int:
        """Checks started (or waiting for a runner slot) and not finished yet."""
        return len(self._in_flight)

    def owned_jobs(self) -> list[str]:
        """The `probe@location` jobs this process's shard runs."""
        return [job_id for probe in self.probes for location in self.contexts
                if self.shard.owns(job_id := f"{probe}@{location}")]

    def start(self) -> None:
        # Skipped and missed slots are counted; a warning line for each would flood the log.
        logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
        logging.getLogger("apscheduler.executors.default").setLevel(logging.ERROR)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)

    async def _start(self) -> None:
        self._semaphore = asyncio.Semaphore(self.concurrency)
        for location in self.contexts:
            self._clients[location] = make_client(location, self.is_cut, self.concurrency)
        self._scheduler = AsyncIOScheduler(event_loop=self._loop, timezone="UTC")
        self._scheduler.add_listener(self._count_skipped,
                                     EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        for probe in self.probes.values():
            self._add_jobs(probe)
        self._scheduler.start()

    def _add_jobs(self, probe: ProbeSpec) -> None:
        assert self._scheduler is not None
        now = self.clock.now()
        for location in self.contexts:
            job_id = f"{probe.name}@{location}"
            if not self.shard.owns(job_id):
                continue
            first = now + timedelta(seconds=spread_offset(probe.name, location,
                                                          probe.interval_s))
            self._firsts[job_id] = first
            self._scheduler.add_job(
                self._run, IntervalTrigger(seconds=probe.interval_s, start_date=first),
                args=[probe.name, location], id=job_id, name=job_id, replace_existing=True,
                coalesce=True, max_instances=1, misfire_grace_time=probe.interval_s,
                next_run_time=first)

    def replace_probes(self, probes: Sequence[ProbeSpec]) -> None:
        """Take a new catalogue: new probes start, removed ones stop, changed ones restart."""
        asyncio.run_coroutine_threadsafe(self._replace(list(probes)), self._loop).result(30)

    async def _replace(self, probes: list[ProbeSpec]) -> None:
        assert self._scheduler is not None
        wanted = {probe.name: probe for probe in probes if probe.enabled}
        for name in set(self.probes) - set(wanted):
            for location in self.contexts:
                if self.shard.owns(f"{name}@{location}"):
                    self._scheduler.remove_job(f"{name}@{location}")
        for name, probe in wanted.items():
            if self.probes.get(name) != probe:
                self._add_jobs(probe)
        self.probes = wanted

    def _count_skipped(self, _event: object) -> None:
        """A slot skipped (the previous check still running) or missed: no data, counted."""
        self.skipped += 1
        if self.on_skip is not None:
            self.on_skip()

    def _count_late(self) -> None:
        self.late += 1
        if self.on_late is not None:
            self.on_late()

    async def _take_slot(self, interval_s: int) -> None:
        """Wait for a runner slot (the concurrency limit); count the wait when it is long."""
        assert self._semaphore is not None
        queued = self.clock.monotonic()
        self.waiting += 1
        try:
            await self._semaphore.acquire()
        finally:
            self.waiting -= 1
        if waited_too_long(self.clock.monotonic() - queued, interval_s):
            self._count_late()

    async def _run(self, probe_name: str, location: str) -> None:
        """A scheduled check: its intended slot is the interval's."""
        probe = self.probes.get(probe_name)
        if probe is None:
            return
        intended = intended_slot(self._firsts[f"{probe_name}@{location}"], probe.interval_s,
                                 self.clock.now())
        await self._check(probe_name, location, intended)

    async def _recheck(self, probe_name: str, location: str, due: datetime) -> None:
        """A confirmation check: its intended slot is when it was due."""
        self._pending.discard(f"{probe_name}@{location}")
        self.rechecks += 1
        await self._check(probe_name, location, due)

    async def _check(self, probe_name: str, location: str, intended: datetime) -> None:
        task = asyncio.current_task()
        assert task is not None
        assert self._semaphore is not None
        self._in_flight.add(task)
        try:
            probe = self.probes.get(probe_name)
            if probe is None:
                return
            await self._take_slot(probe.interval_s)
            try:
                check = await run_check(probe, self.contexts[location],
                                        self._clients[location], intended)
            finally:
                self._semaphore.release()
            lag = (check.started_at - intended).total_seconds()
            self.lags.append(lag)
            if self.observe is not None:
                self.observe(check, lag)
            self.sink.put([check])
            self._confirm(probe, f"{probe_name}@{location}", check.ok)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            # Cancelled by stop() while waiting: no check was run, nothing to store.
        except Exception:  # one broken probe must not stop the others
            log.exception("probe %s from %s failed to run", probe_name, location)
        finally:
            self._in_flight.discard(task)

    def _pair_jobs(self, component: str, region: str) -> list[str]:
        """This shard's jobs of every probe of (component, region)."""
        return [job_id for other in self.probes.values()
                if (other.component, other.region) == (component, region)
                for location in self.contexts
                if self.shard.owns(job_id := f"{other.name}@{location}")]

    def _confirm(self, probe: ProbeSpec, job_id: str, ok: bool) -> None:
        """Schedule the confirmation checks this result asks for (one pending per job)."""
        pair_jobs = self._pair_jobs(probe.component, probe.region)
        for recheck in self.confirming.after(job_id, ok, pair_jobs):
            self._schedule(recheck)

    def confirm_pair(self, component: str, region: str) -> None:
        """Re-check (component, region) now, as another location's first failure asks
        (relayed by the server to an agent); safe from any thread, returns at once."""
        if self._stopping or not self._thread.is_alive():
            return
        try:
            self._loop.call_soon_threadsafe(self._confirm_pair, component, region)
        except RuntimeError:  # the loop closed meanwhile: stopping, nothing to re-check
            return

    def _confirm_pair(self, component: str, region: str) -> None:
        for recheck in self.confirming.asked(self._pair_jobs(component, region)):
            self._schedule(recheck)

    def _schedule(self, recheck: Recheck) -> None:
        """Run one confirmation check after its delay, unless one is due already or the
        probe's own slot comes as soon."""
        if self._scheduler is None or not self._scheduler.running:
            return
        name, _, location = recheck.job_id.rpartition("@")
        probe = self.probes.get(name)
        if (probe is None or location not in self.contexts or recheck.job_id in self._pending
                or recheck.delay_s >= probe.interval_s):
            return
        self._pending.add(recheck.job_id)
        due = self.clock.now() + timedelta(seconds=recheck.delay_s)
        # An id of its own: one still finishing must not make APScheduler skip this one.
        self._scheduled += 1
        job_id = f"{recheck.job_id}#confirm-{self._scheduled}"
        self._scheduler.add_job(
            self._recheck, DateTrigger(run_date=due), args=[name, location, due],
            id=job_id, name=job_id, misfire_grace_time=None)

    def stop(self, timeout: float = 20.0) -> None:
        """Stop scheduling, let checks in flight finish, close the clients."""
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._stop(timeout), self._loop).result(timeout + 10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _stop(self, timeout: float) -> None:
        self._stopping = True
        if self._scheduler is not None:
            self._scheduler.pause()  # no new checks; shutdown would cancel those in flight
        # Every task on the loop, including checks submitted but not started yet.
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if others:
            _, late = await asyncio.wait(others, timeout=timeout)
            # A saturated location still has checks waiting for a runner slot (or stuck):
            # they are cancelled, so the loop can close ("Cannot close a running event loop"
            # when an agent with hundreds of them queued stopped).
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=5)
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        for client in self._clients.values():
            await client.aclose()
