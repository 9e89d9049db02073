"""In-process shards of `bellwether up`: its probes run in `probe_processes` child processes.

One process runs its checks on one core (the GIL). With `probe_processes = N` (N > 1) the
main process keeps the web app, the jobs and the commerce set, and N children run the
probes: child i owns the (component, region) pairs with `crc32("component@region") % N == i`,
from every in-process location. Whole pairs, not single jobs, so the "confirm from other
locations" re-checks of a pair's first failure stay inside one scheduler, and detection is
as fast as with one process. Each child stores its checks through its own writer, exactly
as the main process does with one.

The children are spawned (never forked: the main process has threads by then) and talk to
it over a pipe: the main process sends the partition faults it holds (a child has no
commerce set, so it cannot ask one), "reload" when probes change through the API, and
"stop"; a child sends what `/metrics` shows of its checks twice a second. On SIGTERM the
main process asks every child to stop: a child pauses its scheduler, lets the checks in
flight finish, flushes its writer and exits 0. A child that dies otherwise is logged and
restarted (after 1 s, doubling to 60 s while it keeps dying within a minute of its start),
and counted in `bellwether_probe_shard_restarts_total`; its pairs go without checks until
then, which evaluation shows as "Data delayed" as for any silent location.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from prometheus_client import Counter

from core.clock import Clock, SystemClock
from core.config import Settings
from core.db import SessionFactory, make_engine, make_session_factory, session_scope
from probes import store
from probes.checks import CheckResult
from probes.locations import DEFAULT_LOCATIONS, ProbeScheduler
from probes.metrics import ProbeMetrics
from probes.runner import RunContext
from probes.service import configured_resolvers, probe_credentials, seed_probes
from probes.specs import ProbeSpec
from probes.writer import DatabaseWriter

log = logging.getLogger("bellwether.probes")

#: How often a child reports its checks' outcomes to the main process's metrics.
REPORT_EVERY_S = 0.5
#: A child that has not said it is ready by then is treated as dead.
READY_TIMEOUT_S = 120.0
FIRST_RESTART_S, LAST_RESTART_S, STABLE_S = 1.0, 60.0, 60.0
STOP_TIMEOUT_S = 30.0

#: One check as a child reports it: component, region, location, ok, latency ms, lag s.
Seen = tuple[str, str, str, bool, float, float]
Cut = frozenset[tuple[str, str]]  # (location, region) pairs a partition fault cuts


def pair_shard(component: str, region: str, count: int) -> int:
    """Which of `count` shards runs the (component, region) pair; stable everywhere.

    >>> [pair_shard(c, "us-central1.gcp", 2) for c in ("auth", "carts", "search")]
    [1, 1, 0]
    """
    return zlib.crc32(f"{component}@{region}".encode()) % count


def shard_probes(probes: Sequence[ProbeSpec], index: int, count: int) -> list[ProbeSpec]:
    """The probes of the pairs shard `index` of `count` owns."""
    return [p for p in probes if pair_shard(p.component, p.region, count) == index]


@dataclass(frozen=True)
class ShardPlan:
    """What a child needs to start (pickled to it): settings, which share, where the
    regions' routers listen, its locations and the partition faults of the moment."""

    settings: Settings
    index: int
    count: int
    routers: dict[str, str]
    locations: tuple[str, ...]
    cut: Cut = field(default_factory=frozenset)


class _Reporter:
    """Collects a child's check outcomes on the probe loop; the main thread sends them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: list[Seen] = []

    def observe(self, check: CheckResult, lag_s: float) -> None:
        with self._lock:
            self._seen.append((check.component, check.region, check.location, check.ok,
                               check.latency_ms, lag_s))

    def take(self) -> list[Seen]:
        with self._lock:
            seen, self._seen = self._seen, []
        return seen


def _listed(factory: SessionFactory, plan: ShardPlan) -> list[ProbeSpec]:
    with session_scope(factory) as session:
        probes = store.list_probes(session, plan.settings.regions)
    return shard_probes(probes, plan.index, plan.count)


def run_shard(plan: ShardPlan, conn: Connection) -> None:
    """A child's whole life: probe its pairs until told to stop (pipe, SIGTERM or SIGINT),
    then finish the checks in flight, store every check and exit."""
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    # SIGTERM stops a shard cleanly; Ctrl+C reaches the whole process group, and the main
    # process, which gets it too, stops its shards itself (in its own order).
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    settings, clock = plan.settings, SystemClock()
    engine = make_engine(settings.effective_database_url, pool_size=2)
    factory = make_session_factory(engine)
    cut: dict[str, Cut] = {"now": plan.cut}
    reporter = _Reporter()
    writer = DatabaseWriter(factory, clock)
    credentials = probe_credentials(factory, settings.regions, clock)
    resolvers = configured_resolvers(settings)
    contexts = [RunContext(location, plan.routers.get, credentials.get, clock,
                           resolver=resolvers.get(location)) for location in plan.locations]
    scheduler = ProbeScheduler(
        _listed(factory, plan), contexts, writer, clock,
        is_cut=lambda location, region: (location, region) in cut["now"],
        observe=reporter.observe, confirmations=settings.confirmations,
        retry_interval_s=settings.retry_interval_s)
    writer.start()
    scheduler.start()
    conn.send(("ready", len(scheduler.owned_jobs())))
    skipped = late = 0
    try:
        while not stop.is_set():
            if conn.poll(REPORT_EVERY_S):
                message = conn.recv()
                if message[0] == "stop":
                    stop.set()
                elif message[0] == "cut":
                    cut["now"] = message[1]
                elif message[0] == "reload":
                    scheduler.replace_probes(_listed(factory, plan))
            conn.send(("seen", reporter.take(), scheduler.skipped - skipped,
                       scheduler.late - late))
            skipped, late = scheduler.skipped, scheduler.late
    except (EOFError, OSError):  # the main process is gone: stop as if told to
        pass
    print(f"probe shard {plan.index}/{plan.count}: stopping, {scheduler.in_flight} checks in "
          "flight", flush=True)
    scheduler.stop()
    writer.stop()
    left = writer.pending
    try:
        conn.send(("seen", reporter.take(), scheduler.skipped - skipped,
                   scheduler.late - late))
        conn.send(("stopped", left))
    except OSError:
        pass
    engine.dispose()


@dataclass
class _Child:
    """The main process's handle on one shard."""

    index: int
    process: BaseProcess | None = None
    conn: Connection | None = None
    started: float = 0.0
    ready: bool = False
    jobs: int = 0
    failures: int = 0
    restart_at: float | None = None
    send_lock: threading.Lock = field(default_factory=threading.Lock)


class ShardedProbeService:
    """`ProbeService`'s interface (start, reload, stop, locations) over N child processes."""

    def __init__(self, settings: Settings, factory: SessionFactory, clock: Clock, fleet: Any,
                 metrics: ProbeMetrics, count: int,
                 locations: Sequence[str] = DEFAULT_LOCATIONS) -> None:
        self.settings, self.factory, self.clock, self.fleet = settings, factory, clock, fleet
        self.metrics, self.count = metrics, count
        self.locations = tuple(locations)
        self.restarts = Counter("bellwether_probe_shard_restarts",
                                "Probe shard processes of `bellwether up` that died and were "
                                "restarted", ["shard"], registry=metrics.registry)
        self._children = [_Child(index) for index in range(count)]
        self._context = multiprocessing.get_context("spawn")
        self._stopping = threading.Event()
        self._cut: Cut = frozenset()
        self._faults_seen: object = None
        self._thread = threading.Thread(target=self._supervise, name="probe-shards",
                                        daemon=True)
        self.on_restart: Callable[[int], None] | None = None

    @property
    def pids(self) -> list[int | None]:
        return [None if c.process is None else c.process.pid for c in self._children]

    def _current_cut(self) -> Cut:
        view = self.fleet.faults()
        self._faults_seen = view
        return frozenset((location, region) for location in self.locations
                         for region in self.settings.regions
                         if view.partitioned(location, region))

    def _routers(self) -> dict[str, str]:
        return {region: str(listener.url) for region, listener in self.fleet.routers.items()}

    def _spawn(self, child: _Child) -> None:
        ours, theirs = self._context.Pipe()
        plan = ShardPlan(self.settings, child.index, self.count, self._routers(),
                         self.locations, self._cut)
        process = self._context.Process(target=run_shard, args=(plan, theirs),
                                        name=f"probe-shard-{child.index}", daemon=False)
        process.start()
        theirs.close()
        child.process, child.conn, child.ready = process, ours, False
        child.started, child.restart_at = self.clock.monotonic(), None

    def start(self) -> None:
        """Seed the catalogue and the probe project once, then start every shard and wait
        until each has scheduled its jobs."""
        seed_probes(self.factory, self.settings, self.clock)
        probe_credentials(self.factory, self.settings.regions, self.clock)
        self._cut = self._current_cut()
        for child in self._children:
            self._spawn(child)
        deadline = self.clock.monotonic() + READY_TIMEOUT_S
        for child in self._children:
            while not child.ready:
                assert child.process is not None
                left = deadline - self.clock.monotonic()
                if child.conn is not None and child.conn.poll(max(0.0, min(left, 1.0))):
                    self._receive(child)
                elif left <= 0 or child.conn is None or not child.process.is_alive():
                    self.stop()
                    raise RuntimeError(f"probe shard {child.index}/{self.count} did not start "
                                       f"(exit code {child.process.exitcode})")
        log.info("probes in %d processes: %s jobs", self.count,
                 ", ".join(str(c.jobs) for c in self._children))
        self._thread.start()

    def _send(self, child: _Child, message: tuple[Any, ...]) -> None:
        if child.conn is None:
            return
        # A dead child's pipe refuses: the supervisor restarts it.
        with child.send_lock, contextlib.suppress(OSError):
            child.conn.send(message)

    def reload(self) -> None:
        """Pick up probes added, changed or removed through the API, in every shard."""
        for child in self._children:
            self._send(child, ("reload",))

    def _receive(self, child: _Child) -> None:
        assert child.conn is not None
        try:
            message = child.conn.recv()
        except (EOFError, OSError):
            child.conn = None  # its sentinel says the rest
            return
        if message[0] == "ready":
            child.ready, child.jobs = True, message[1]
        elif message[0] == "seen":
            for seen in message[1]:
                self.metrics.observe(*seen)
            if message[2]:
                self.metrics.skipped.inc(message[2])
            if message[3]:
                self.metrics.late.inc(message[3])
        elif message[0] == "stopped" and message[1]:
            log.warning("probe shard %d/%d stopped with %d checks not stored", child.index,
                        self.count, message[1])

    def _supervise(self) -> None:
        """Forward reports, partition changes and restart dead shards, until all stopped."""
        while True:
            live = [c for c in self._children if c.process is not None]
            if self._stopping.is_set() and not live:
                return
            self._pump(live)
            if not self._stopping.is_set():
                self._restart_due()
                self._forward_cut()

    def _pump(self, live: list[_Child]) -> None:
        """Receive what the children sent within 0.25 s; notice the ones that ended."""
        waits: list[Any] = [c.conn for c in live if c.conn is not None]
        waits += [c.process.sentinel for c in live if c.process is not None]
        for ready in wait(waits, timeout=0.25):
            for child in live:
                if ready is child.conn:
                    self._receive(child)
        for child in live:
            assert child.process is not None
            if not child.process.is_alive() and (child.conn is None or not child.conn.poll(0)):
                self._ended(child)

    def _forward_cut(self) -> None:
        """Tell every shard when the partition faults changed (the fleet's view of them is
        a new object on every change, so the comparison costs no query)."""
        if self.fleet.faults() is self._faults_seen:
            return
        cut = self._current_cut()
        if cut != self._cut:
            self._cut = cut
            for child in self._children:
                self._send(child, ("cut", cut))

    def _ended(self, child: _Child) -> None:
        assert child.process is not None
        code = child.process.exitcode
        child.process.join()
        child.process, child.conn = None, None
        if self._stopping.is_set():
            if code:
                log.warning("probe shard %d/%d exited with code %s", child.index,
                            self.count, code)
            return
        lived = self.clock.monotonic() - child.started
        child.failures = 0 if lived >= STABLE_S else child.failures + 1
        delay = min(LAST_RESTART_S, FIRST_RESTART_S * 2 ** max(0, child.failures - 1))
        log.error("probe shard %d/%d (%d jobs) died with exit code %s after %.0f s; "
                  "restarting in %.0f s", child.index, self.count, child.jobs, code, lived,
                  delay)
        child.restart_at = self.clock.monotonic() + delay
        self.restarts.labels(str(child.index)).inc()
        if self.on_restart is not None:
            self.on_restart(child.index)

    def _restart_due(self) -> None:
        now = self.clock.monotonic()
        for child in self._children:
            if child.process is None and child.restart_at is not None \
                    and now >= child.restart_at:
                self._spawn(child)

    def request_stop(self) -> None:
        """The main process is stopping: a shard that ends from now on is not restarted
        (a service manager's SIGTERM may reach the shards before `stop` runs)."""
        self._stopping.set()

    def stop(self) -> None:
        """Ask every shard to stop (each finishes its checks in flight and stores them),
        wait for them, and kill any that outlives `STOP_TIMEOUT_S`."""
        self._stopping.set()
        for child in self._children:
            child.restart_at = None
            self._send(child, ("stop",))
        if self._thread.is_alive():
            self._thread.join(timeout=STOP_TIMEOUT_S)
        for child in self._children:
            if child.process is not None and child.process.is_alive():
                log.error("probe shard %d/%d did not stop in %.0f s; killing it",
                          child.index, self.count, STOP_TIMEOUT_S)
                child.process.kill()
                child.process.join(timeout=10)
