"""The running commerce set: a router and three zone listeners per region, and the loops
that keep it honest (faults applied, zones health-checked, messages and imports processed).

1. Faults reach the listeners on change, never by re-reading them all the time:
   - in this process (`bellwether up`, the tests) the fault API calls `faults_changed()`
     after its commit, which re-reads the faults in a read scope and applies them before
     the API answers: no poll to wait for, and no write lock on SQLite;
   - from another process (the scale-out layout: `bellwether web` apart from
     `bellwether commerce serve`, on PostgreSQL) the control loop compares a fingerprint of
     the fault table (`store.fault_version`: newest id, how many cleared; one indexed
     aggregate) every `FAULT_CHECK_INTERVAL_S` and re-reads only when it moved. A 1 s check
     was chosen over PostgreSQL LISTEN/NOTIFY because it needs no dedicated connection or
     migration, works the same on SQLite, and costs one cheap read a second; a fault from
     another process applies within that second (it was 0.2 s with a full read in a write
     transaction five times a second);
   - a fault with a duration expires on time without any query: the loop wakes at the
     earliest expiry it holds and re-applies the faults it already has.
2. Every second each router checks its zones.
3. Every 0.1 s the worker loop delivers queued messages and runs due import batches; it
   looks in a read scope first and takes the write lock only when there is work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from commerce import store
from commerce.background import deliver_pending_messages, process_imports
from commerce.catalog import ZONES
from commerce.faults import Fault, FaultView
from commerce.proxy import RegionRouter
from commerce.zone import ZoneCache, ZoneContext, create_zone_app
from core.clock import Clock
from core.config import Settings
from core.db import (
    JOB_BUSY_TIMEOUT_MS,
    SessionFactory,
    is_lock_timeout,
    read_scope,
    session_scope,
)
from core.servers import Listener
from core.signals import Look

log = logging.getLogger(__name__)

#: How often the control loop checks whether another process changed the faults.
FAULT_CHECK_INTERVAL_S = 1.0
HEALTH_INTERVAL_S = 1.0
#: Zones marked healthy are re-checked this often (unhealthy ones every HEALTH_INTERVAL_S,
#: every zone at once when a fault changed): nine health requests a second at rest were the
#: largest part of what an idle `up` spent serving.
HEALTHY_RECHECK_S = 10.0
WORKER_INTERVAL_S = 0.1
#: Without a signal the worker still looks this often: retries coming due, a database
#: fault cleared, messages another process queued.
WORKER_SAFETY_S = 1.0


@dataclass(frozen=True)
class RegionEndpoints:
    region: str
    router_url: str
    zone_urls: dict[str, str]


class Fleet:
    """Starts, reconciles and stops the commerce listeners of one Bellwether instance."""

    def __init__(self, settings: Settings, factory: SessionFactory, clock: Clock,
                 instance: str = "default") -> None:
        self.settings = settings
        self.factory = factory
        self.clock = clock
        self.instance = instance
        self.regions = settings.regions
        self._faults = FaultView()
        self._stored: tuple[Fault, ...] = ()
        self._version: tuple[int, int] | None = None
        self.cache = ZoneCache()
        self._stop = threading.Event()
        self._health_wake = threading.Event()  # a fault changed: check every zone now
        self._refresh_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.zones: dict[tuple[str, str], Listener] = {}
        self.routers: dict[str, Listener] = {}
        self.region_routers: dict[str, RegionRouter] = {}
        self._build_listeners()

    def faults(self) -> FaultView:
        return self._faults

    def _port(self, index: int) -> int:
        base = self.settings.commerce_port_base
        return base + index if base else 0

    def _build_listeners(self) -> None:
        threads = max(8, self.settings.server_threads // 2)
        index = 0
        for region in self.regions:
            for zone in ZONES:
                ctx = ZoneContext(region=region, zone=zone, session_factory=self.factory,
                                  clock=self.clock, faults=self.faults,
                                  max_body_bytes=self.settings.max_body_bytes,
                                  cache=self.cache)
                self.zones[(region, zone)] = Listener(f"{region}-{zone}", create_zone_app(ctx),
                                                      port=self._port(index), threads=threads)
                index += 1
            router = RegionRouter(region, {z: self.zones[(region, z)].port for z in ZONES},
                                  self.settings.max_body_bytes)
            self.region_routers[region] = router
            self.routers[region] = Listener(f"{region}-router", router, port=self._port(index),
                                            threads=threads)
            index += 1

    def endpoints(self) -> list[RegionEndpoints]:
        return [RegionEndpoints(region, self.routers[region].url,
                                {z: self.zones[(region, z)].url for z in ZONES})
                for region in self.regions]

    def start(self) -> None:
        """Seed each region, apply the faults already stored, start listeners and loops."""
        now = self.clock.now()
        with session_scope(self.factory) as session:
            for region in self.regions:
                store.region_secret(session, region, now)
                store.probe_credentials(session, region, now)
            rows: list[tuple[str, str | None, str]] = [
                (e.region, None, e.router_url) for e in self.endpoints()]
            rows += [(e.region, z, url) for e in self.endpoints() for z, url in e.zone_urls.items()]
            store.replace_endpoints(session, self.instance, rows, now)
        self.refresh_faults()
        loops: list[tuple[str, Callable[[], None]]] = [
            ("control", self._watch_faults),
            ("health", self._health_loop),
            ("worker", self._worker_loop)]
        for name, target in loops:
            thread = threading.Thread(target=target, name=f"commerce-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self._health_wake.set()
        for thread in self._threads:
            thread.join(timeout=10)
        stoppers = [threading.Thread(target=listener.stop)
                    for listener in [*self.routers.values(), *self.zones.values()]]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join(timeout=10)

    def refresh_faults(self) -> None:
        """Read the active faults (a read scope: never the write lock) and apply them.

        One refresh at a time: a loop applying an older read after a newer one would restart
        a listener that a fault has just stopped.
        """
        with self._refresh_lock:
            with read_scope(self.factory) as session:
                version = store.fault_version(session)
                faults = store.active_faults(session, self.clock.now())
            self._version = version
            self._stored = tuple(faults)
            self._apply()

    def faults_changed(self) -> None:
        """The in-process signal: a fault was stored or cleared here; apply it now."""
        self.refresh_faults()

    def _apply(self) -> None:
        """Make the listeners match the faults held, minus those expired by now."""
        self._faults = FaultView.at(self._stored, self.clock.now())
        for (region, zone), listener in self.zones.items():
            listener.set_running(not self._faults.zone_down(region, zone))
        for region, listener in self.routers.items():
            listener.set_running(not self._faults.region_down(region))
        self._health_wake.set()

    def check_faults(self) -> None:
        """One pass of the control loop: re-read the faults only if another process changed
        them (one cheap read), else only drop the ones that expired (no query)."""
        with read_scope(self.factory) as session:
            version = store.fault_version(session)
        if version != self._version:
            self.refresh_faults()
            return
        with self._refresh_lock:
            if len(self._faults.faults) != sum(f.active_at(self.clock.now())
                                               for f in self._stored):
                self._apply()

    def next_wait_s(self) -> float:
        """Until the next version check, or sooner when a fault held expires before it."""
        now = self.clock.now()
        wait = FAULT_CHECK_INTERVAL_S
        for fault in self._stored:
            if fault.expires_at is not None and fault.expires_at > now:
                wait = min(wait, (fault.expires_at - now).total_seconds())
        return max(wait, 0.01)

    def _watch_faults(self) -> None:
        """The control loop: sleep until a check or an expiry is due, then check."""
        while not self._stop.wait(self.next_wait_s()):
            try:
                self.check_faults()
            except Exception:  # a loop that dies silently would freeze the fleet
                log.exception("commerce fault check failed; retrying")

    def _health_loop(self) -> None:
        """Bring unhealthy zones back every HEALTH_INTERVAL_S; re-check healthy ones every
        HEALTHY_RECHECK_S, or at once after a fault changed (`_apply` wakes the loop)."""
        last_full = float("-inf")
        while not self._stop.is_set():
            now = self.clock.monotonic()
            everything = self._health_wake.is_set() or now - last_full >= HEALTHY_RECHECK_S
            self._health_wake.clear()
            try:
                for router in self.region_routers.values():
                    router.check_health(everything)
                if everything:
                    last_full = now
            except Exception:  # a loop that dies silently would freeze the fleet
                log.exception("commerce health check failed; retrying")
            self._health_wake.wait(HEALTH_INTERVAL_S)

    def _work(self) -> int:
        delivered = deliver_pending_messages(self.factory, self._faults, self.regions,
                                             self.clock.now())
        return delivered + process_imports(self.factory, self._faults, self.regions,
                                           self.clock.now)

    def _worker_loop(self) -> None:
        """Deliver messages and run imports when a commit queued some (woken by
        `store.WORK_ARRIVED`), again at once while a pass finds work, else every
        `WORKER_SAFETY_S`: an idle worker runs no query (it polled 10 times a second)."""
        look = Look(store.WORK_ARRIVED, WORKER_SAFETY_S)
        seen = store.WORK_ARRIVED.generation
        while not self._stop.is_set():
            if look.due(self.clock.monotonic()):
                try:
                    if self._work():
                        look.found_work()
                except Exception as exc:  # a loop that dies silently would freeze the fleet
                    if not is_lock_timeout(exc):
                        log.exception("commerce worker step failed; retrying")
                    else:  # busy, not broken: the messages and imports wait for the next pass
                        log.warning("commerce worker skipped a pass: the commerce database's "
                                    "write lock stayed busy for %d s; retrying",
                                    JOB_BUSY_TIMEOUT_MS // 1000)
            seen = store.WORK_ARRIVED.wait(seen, WORKER_INTERVAL_S)

