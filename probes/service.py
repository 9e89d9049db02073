"""The in-process probe locations of `bellwether up`, wired to the embedded commerce set.

It seeds the probe catalogue (defaults and the config file's probes), gives each location
the region routers and the probe project's credentials, and starts the scheduler and the
writer. Remote locations (`bellwether agent`) run the same scheduler with other wiring.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError

from commerce import store as commerce_store
from core.clock import Clock
from core.config import Settings
from core.db import SessionFactory, session_scope
from core.errors import ConfigError
from probes import store
from probes.checks import CheckResult
from probes.dns_check import location_resolvers
from probes.icmp_check import icmp_refusal
from probes.locations import DEFAULT_LOCATIONS, EVERY_JOB, ProbeScheduler, Shard
from probes.runner import Credentials, RunContext
from probes.specs import ProbeKind, ProbeSpec, default_catalogue, parse_probe
from probes.writer import DatabaseWriter

log = logging.getLogger("bellwether.probes")


def configured_probes(settings: Settings) -> list[ProbeSpec]:
    """The default catalogue plus the probes of the config file (config as code)."""
    probes = default_catalogue(settings.regions, settings.probe_interval_s)
    for raw in settings.extra.get("probes", []):
        probes.append(parse_probe(raw, settings.regions, settings.probe_interval_s))
    if any(probe.kind is ProbeKind.ICMP for probe in probes) and (why := icmp_refusal()):
        log.warning("icmp probes will fail from this process's locations: %s", why)
    return probes


def configured_resolvers(settings: Settings) -> dict[str, tuple[str, int]]:
    """Each location's DNS resolver from the config file (`[locations.<name>] resolver`)."""
    try:
        return location_resolvers(settings.extra)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def seed_probes(factory: SessionFactory, settings: Settings, clock: Clock) -> list[ProbeSpec]:
    """Store the configured probes and the probe project's fixtures; the enabled probes.

    Processes of the scale-out layout started at the same moment seed the same rows: the
    one that loses the race (a unique violation) seeds again over the winner's rows."""
    for attempt in range(3):
        try:
            with session_scope(factory) as session:
                store.sync_probes(session, configured_probes(settings), clock.now())
                for region in settings.regions:
                    commerce_store.ensure_probe_product(session, region, clock.now())
            break
        except IntegrityError:
            if attempt == 2:
                raise
            log.info("another process seeded the probes at the same time; seeding again")
    with session_scope(factory) as session:
        return store.list_probes(session, settings.regions)


def probe_credentials(factory: SessionFactory, regions: Sequence[str], clock: Clock,
                      ) -> dict[str, Credentials]:
    with session_scope(factory) as session:
        return {region: Credentials(*commerce_store.probe_credentials(session, region,
                                                                      clock.now()),
                                    project_key=commerce_store.PROBE_PROJECT)
                for region in regions}


class ProbeService:
    """Everything that makes checks inside `bellwether up`: locations, scheduler, writer.

    `shard` runs only this process's share of the jobs (see `Shard`); every shard writes
    its checks to the database through its own writer, exactly as a single process does.
    """

    def __init__(self, settings: Settings, factory: SessionFactory, clock: Clock,
                 fleet: Any, observe: Callable[[CheckResult, float], None] | None = None,
                 on_skip: Callable[[], None] | None = None,
                 locations: Sequence[str] = DEFAULT_LOCATIONS,
                 on_late: Callable[[], None] | None = None, shard: Shard = EVERY_JOB) -> None:
        self.settings, self.factory, self.clock, self.fleet = settings, factory, clock, fleet
        self.writer = DatabaseWriter(factory, clock)
        self.locations = tuple(locations)
        self.observe, self.on_skip, self.on_late = observe, on_skip, on_late
        self.shard = shard
        self.scheduler: ProbeScheduler | None = None

    def _router_url(self, region: str) -> str | None:
        listener = self.fleet.routers.get(region)
        return None if listener is None else str(listener.url)

    def start(self) -> None:
        probes = seed_probes(self.factory, self.settings, self.clock)
        credentials = probe_credentials(self.factory, self.settings.regions, self.clock)
        resolvers = configured_resolvers(self.settings)
        contexts = [RunContext(location, self._router_url, credentials.get, self.clock,
                               resolver=resolvers.get(location))
                    for location in self.locations]
        self.scheduler = ProbeScheduler(
            probes, contexts, self.writer, self.clock,
            is_cut=lambda location, region: self.fleet.faults().partitioned(location, region),
            observe=self.observe, shard=self.shard,
            confirmations=self.settings.confirmations,
            retry_interval_s=self.settings.retry_interval_s)
        self.scheduler.on_skip, self.scheduler.on_late = self.on_skip, self.on_late
        self.writer.start()
        self.scheduler.start()

    def reload(self) -> None:
        """Pick up probes added, changed or removed through the API."""
        if self.scheduler is not None:
            with session_scope(self.factory) as session:
                self.scheduler.replace_probes(store.list_probes(session, self.settings.regions))

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
        self.writer.stop()
