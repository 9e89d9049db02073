"""Probe locations at work: every probe from every location at its interval.

One asyncio loop on its own thread runs APScheduler's AsyncIOScheduler; each (probe,
location) is a job whose first run is spread across its interval, so probes do not fire
in bursts. Missed runs are coalesced (a missed slot is "no data", never "up"); each check
records its intended slot and its real start, whose difference is the scheduler lag.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

import httpx
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from core.clock import Clock
from probes.checks import CheckResult
from probes.runner import RunContext, make_client, run_check
from probes.specs import ProbeSpec

log = logging.getLogger("bellwether.probes")
DEFAULT_LOCATIONS = ("loc-a", "loc-b", "loc-c")


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


class ProbeScheduler:
    """Runs probes × locations on one asyncio loop; results go to `sink`."""

    def __init__(self, probes: Sequence[ProbeSpec], contexts: Sequence[RunContext],
                 sink: CheckSink, clock: Clock, is_cut: Callable[[str, str], bool],
                 concurrency: int = 32,
                 observe: Callable[[CheckResult, float], None] | None = None) -> None:
        self.probes = {probe.name: probe for probe in probes if probe.enabled}
        self.contexts = {ctx.location: ctx for ctx in contexts}
        self.sink, self.clock, self.is_cut = sink, clock, is_cut
        self.concurrency = concurrency
        self.observe = observe
        self.lags: deque[float] = deque(maxlen=10_000)
        self.skipped = 0
        self.on_skip: Callable[[], None] | None = None
        self._firsts: dict[str, datetime] = {}
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="probe-loop",
                                        daemon=True)
        self._scheduler: AsyncIOScheduler | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._in_flight: set[asyncio.Task[None]] = set()

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

    async def _run(self, probe_name: str, location: str) -> None:
        task = asyncio.current_task()
        assert task is not None
        assert self._semaphore is not None
        self._in_flight.add(task)
        try:
            probe = self.probes.get(probe_name)
            if probe is None:
                return
            now = self.clock.now()
            intended = intended_slot(self._firsts[f"{probe_name}@{location}"],
                                     probe.interval_s, now)
            async with self._semaphore:
                check = await run_check(probe, self.contexts[location],
                                        self._clients[location], intended)
            lag = (check.started_at - intended).total_seconds()
            self.lags.append(lag)
            if self.observe is not None:
                self.observe(check, lag)
            self.sink.put([check])
        except Exception:  # one broken probe must not stop the others
            log.exception("probe %s from %s failed to run", probe_name, location)
        finally:
            self._in_flight.discard(task)

    def stop(self, timeout: float = 20.0) -> None:
        """Stop scheduling, let checks in flight finish, close the clients."""
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._stop(timeout), self._loop).result(timeout + 10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _stop(self, timeout: float) -> None:
        if self._scheduler is not None:
            self._scheduler.pause()  # no new checks; shutdown would cancel those in flight
        # Every task on the loop, including checks submitted but not started yet.
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if others:
            await asyncio.wait(others, timeout=timeout)
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        for client in self._clients.values():
            await client.aclose()
