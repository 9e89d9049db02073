"""The probes package's background jobs: roll up minutes, evaluate live state, prune."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from alerts.outbox import Notice, enqueue
from commerce.catalog import SERVICES, tier_of
from core.config import Settings
from core.db import one_write_lock, read_scope, session_scope, try_singleton
from core.job_runs import EVALUATOR, record_job_run
from core.scheduler import Job, JobContext
from probes import store
from probes.evaluate import FRESH_INTERVALS, WINDOW, State, evaluate_pair, no_probe
from probes.heartbeats import agent_status
from probes.recent import RecentChecks
from probes.rollup import RawCheck, roll_up
from probes.silence import (
    NO_DATA,
    REGION,
    AgentSeen,
    Gap,
    agent_changes,
    episode_start,
    is_pageable,
    pipeline_dedup_key,
    pipeline_notice,
    region_dedup_key,
    region_resolve,
    region_trigger,
    root_of,
)
from probes.specs import ProbeSpec
from sla.period import minute_of, minute_start

ROLLUP_BATCH = 20_000
#: Checks per claim on SQLite: each series of a claim is then written in its own short
#: write transaction (a few ms at 1 s probes).
SQLITE_ROLLUP_BATCH = 2_000
#: Raw checks deleted per write transaction when pruning.
PRUNE_BATCH = 2_000
#: How far behind now the rollup stays, so that checks still in flight land first.
ROLLUP_SETTLE = timedelta(seconds=2)
#: The rollup job's period: it runs once a minute, ROLLUP_SETTLE + 1 s past it.
ROLLUP_EVERY = timedelta(minutes=1)
RETENTION = timedelta(days=30)
MEMORY_PART = "probes.evaluate.memory"
CATALOGUE_PART = "probes.evaluate.catalogue"
#: The memory keeps what the rules read: the intermittent window and a confirmed run.
KEEP = WINDOW + 2
DEFAULT_TIMEOUT = 10.0
Pair = tuple[str, str]


def roll_up_minutes(ctx: JobContext) -> int:
    """Roll up new checks into minute rollups; how many checks were rolled up.

    1. Claim unrolled checks (other workers skip them on PostgreSQL).
    2. Per (component, region), recompute every minute they can change: a new check can
       confirm a failure run up to `confirmations` intervals away, before or after it.
    3. Rewrite those minutes' rollups and mark the checks rolled up.
    On PostgreSQL a batch is one transaction (the claim's row locks last until it commits).
    On SQLite, whose one write lock every writer waits for, the claim and the reads run in
    read scopes and each series is written in a transaction of its own, a batch of at most
    SQLITE_ROLLUP_BATCH checks at a time (one 20,000-check transaction held the lock for
    0.41 s on average and up to 1.2 s at 1 s probes: docs/benchmarks.md).
    """
    if one_write_lock(ctx.session_factory):
        return _roll_up_in_short_transactions(ctx)
    confirmations = ctx.settings.confirmations
    horizon = ctx.clock.now() - ROLLUP_SETTLE
    total = 0
    while True:  # a minute's pass drains a backlog (a spool flushed) batch by batch
        with session_scope(ctx.session_factory) as session:
            claimed = store.claim_unrolled(session, horizon, ROLLUP_BATCH)
            for (component, region), batch in sorted(claimed.items()):
                store.lock_series(session, component, region)
                first, last, series = _series_around(session, component, region, batch,
                                                     confirmations)
                per_location, combined = roll_up(series, range(first, last + 1),
                                                 confirmations)
                store.replace_rollups(session, component, region, first, last,
                                      per_location, combined)
                store.mark_rolled_up(session, batch.ids)
        done = sum(len(batch.ids) for batch in claimed.values())
        total += done
        if done < ROLLUP_BATCH:
            return total


def _series_around(session: Session, component: str, region: str, batch: store.Claimed,
                   confirmations: int) -> tuple[int, int, dict[str, list[RawCheck]]]:
    """The minutes a batch can change, and the checks their rollups are computed from."""
    reach = math.ceil(confirmations * batch.max_interval_s / 60) + 1
    first = minute_of(batch.first) - reach
    last = minute_of(batch.last) + reach
    series = store.series_checks(session, component, region, minute_start(first - reach),
                                 minute_start(last + reach + 1))
    return first, last, series


def _roll_up_in_short_transactions(ctx: JobContext) -> int:
    """SQLite: decide in read scopes, write one series at a time; batches until done.

    Recomputing is idempotent, so a check that lands between the read and the write is
    simply rolled up (its minutes recomputed) by the next batch or pass."""
    confirmations = ctx.settings.confirmations
    horizon = ctx.clock.now() - ROLLUP_SETTLE
    total = 0
    while True:
        with read_scope(ctx.session_factory) as session:
            claimed = store.claim_unrolled(session, horizon, SQLITE_ROLLUP_BATCH)
        for (component, region), batch in sorted(claimed.items()):
            with read_scope(ctx.session_factory) as session:
                first, last, series = _series_around(session, component, region, batch,
                                                     confirmations)
            per_location, combined = roll_up(series, range(first, last + 1), confirmations)
            with session_scope(ctx.session_factory) as session:
                store.replace_rollups(session, component, region, first, last, per_location,
                                      combined)
                store.mark_rolled_up(session, batch.ids)
        done = sum(len(batch.ids) for batch in claimed.values())
        total += done
        if done < SQLITE_ROLLUP_BATCH:
            return total


def evaluate_states(ctx: JobContext) -> int:
    """Evaluate the live state of every listed (component, region); how many changed.

    Reads only the checks that arrived since the last pass (`probes.recent`), the stored
    states and the probe list. A pair without fresh checks from a strict majority of the
    locations expected to check it (none when no enabled probe does) goes `no_data`; gaps
    are paged by root (`probes.silence`): one page for a stall of the pipeline, one per
    region gap episode past its grace, one per silent agent, none for a stopped one. The
    pass's time goes to `job_runs` in a transaction of its own, so `/healthz` and
    `/metrics` see when evaluation stops.
    """
    now = ctx.clock.now()
    ran = ok = False
    try:
        # The reading (the probe list, the checks that arrived, up to half a minute of them
        # again) happens before the write transaction: on SQLite it held the write lock for
        # 57 ms a pass on average, up to 457 ms, at 1 s probes (docs/benchmarks.md).
        with read_scope(ctx.session_factory) as session:
            ready = _prepare(ctx, session, now)
            quiet = one_write_lock(ctx.session_factory) and _writes_nothing(
                ctx, session, now, ready)
        if quiet:
            ran = ok = True
            return 0
        with session_scope(ctx.session_factory) as session:
            if not try_singleton(session, EVALUATOR):
                return 0  # another worker is evaluating right now (and records its run)
            ran = True
            changed = _evaluate(ctx, session, now, ready)
        ok = True
        return changed
    finally:
        if ran:
            with session_scope(ctx.session_factory) as session:
                record_job_run(session, EVALUATOR, now, ok)


def _writes_nothing(ctx: JobContext, session: Session, now: datetime, ready: _Ready) -> bool:
    """Run the pass in the read scope, never flushing: whether it would write nothing.

    On SQLite most passes change no state and page nobody, yet the whole pass ran inside
    the write lock (55 ms on average, 87 of 436 passes over 100 ms in the 5-minute soak on
    a loaded machine: docs/benchmarks.md). A pass that writes (a state, a page, an agent
    gone silent) is refused by the read scope or leaves rows changed, and runs again in
    the write lock; what it did to the memory meanwhile is idempotent for the same `now`
    (forgetting, noting absent locations, a stall start), and what follows a write (a
    stall's end after its resolve is enqueued) is left for that second run."""
    try:
        with session.no_autoflush:
            _evaluate(ctx, session, now, ready)
    except OperationalError:  # a write refused by the read scope
        return False
    return not (session.new or session.deleted
                or any(session.is_modified(row) for row in session.dirty))


@dataclass(frozen=True, slots=True)
class _Ready:
    """What a pass reads before it takes the write lock: each probed pair's longest
    interval and timeout, every probed pair, and the memory caught up with new checks."""

    timing: dict[Pair, tuple[int, float]]
    pairs: set[Pair]
    memory: RecentChecks


def _prepare(ctx: JobContext, session: Session, now: datetime) -> _Ready:
    probes, pairs = _catalogue(ctx, session)
    timing: dict[Pair, tuple[int, float]] = {}
    for probe in probes:
        known = timing.get((probe.component, probe.region), (0, 0.0))
        timing[(probe.component, probe.region)] = (
            max(known[0], probe.interval_s), max(known[1], probe.timeout_s))
    listed = _listed(ctx.settings, set(timing) | pairs, store.state_pairs(session))
    return _Ready(timing, pairs, _caught_up(ctx, session, now, listed, timing))


def _listed(settings: Settings, probed: set[Pair], stated: Iterable[Pair]) -> set[Pair]:
    """Probed pairs, and pairs with a state whose probes were disabled or removed (they
    must not keep their last state)."""
    return probed | {pair for pair in stated
                     if pair[1] in settings.regions and pair[0] in SERVICES}


def _evaluate(ctx: JobContext, session: Session, now: datetime, ready: _Ready) -> int:
    settings = ctx.settings
    timing, memory = ready.timing, ready.memory
    probed = set(timing)
    known_states = store.states(session)
    was_no_data = {pair for pair, row in known_states.items() if row.state == NO_DATA}
    listed = _listed(settings, probed | ready.pairs, known_states)
    stopped, absent, agent_locations = _absent_locations(session, now, settings)
    memory.note_absent(frozenset(absent), now)
    in_process = set(getattr(ctx.parts.get("probes"), "locations", ()))
    gaps: list[Gap] = []
    windows: list[tuple[timedelta, timedelta]] = []  # of pairs someone present should check
    changed = 0
    for pair in sorted(listed):
        interval, timeout = timing.get(
            pair, (memory.intervals.get(pair, settings.probe_interval_s), DEFAULT_TIMEOUT))
        window = timedelta(seconds=FRESH_INTERVALS * interval + timeout)
        memory.forget(pair, now - timedelta(seconds=interval * (KEEP + 1) + timeout))
        old = known_states.get(pair)
        if pair in probed:
            everyone = set(memory.last_seen(pair)) | in_process
            recent = memory.fresh(pair, now - window)
            evaluation = evaluate_pair(recent, everyone - stopped, settings.confirmations)
            # Forgotten by everyone (long silent or stopped): any agent's location may be it.
            missing = frozenset(everyone - {loc for loc, checks in recent.items() if checks}
                                if everyone else agent_locations)
            if everyone - absent:
                windows.append((window, timedelta(seconds=interval)))
        else:  # checks still arriving for a disabled probe are not data
            evaluation, missing = no_probe(), frozenset[str]()
        if evaluation.state is State.NO_DATA and memory.listed(pair, now) > now - window:
            # Just listed, or this worker just (re)started: a silence is only judged after
            # watching for as long as it takes to become one (no page at every restart).
            if old is not None and old.state == NO_DATA:
                gaps.append(Gap(*pair, old.since, timedelta(seconds=interval), missing))
            continue
        since = old.since if old is not None else now
        if store.record_state(session, *pair, evaluation, now, old):
            changed += 1
            since = now
        if evaluation.state is State.NO_DATA:
            gaps.append(Gap(*pair, since, timedelta(seconds=interval), missing))
    memory.last_pass = now
    stalled = _watch_pipeline(session, memory, now, windows, settings)
    _page_gaps(session, memory, now, gaps, was_no_data, listed, stalled, absent, settings)
    return changed


def _catalogue(ctx: JobContext, session: Session,
               ) -> tuple[Sequence[ProbeSpec], set[Pair]]:
    """The enabled probes and every probed pair, parsed once per change of the probe table
    (`store.probe_list_marker`), not every second."""
    marker = store.probe_list_marker(session)
    cached = ctx.parts.get(CATALOGUE_PART)
    if not isinstance(cached, tuple) or cached[0] != marker:
        cached = (marker, store.list_probes(session, ctx.settings.regions),
                  store.probe_pairs(session, ctx.settings.regions))
        ctx.parts[CATALOGUE_PART] = cached
    return cached[1], cached[2]


def _absent_locations(session: Session, now: datetime, settings: Settings,
                      ) -> tuple[set[str], set[str], frozenset[str]]:
    """Page agents gone silent (or resolve their return); then the locations whose agents
    all stopped on purpose, those whose agents are all stopped or silent, and all of
    the agents' locations."""
    _watch_agents(session, now, settings)
    by_location: dict[str, set[str]] = {}
    for row in store.agents(session):
        status = agent_status(row.last_seen_at, row.silent_since, now,
                              settings.probe_interval_s)
        by_location.setdefault(row.location, set()).add(status)
    stopped = {loc for loc, statuses in by_location.items() if statuses == {"stopped"}}
    absent = {loc for loc, statuses in by_location.items() if "ok" not in statuses}
    return stopped, absent, frozenset(by_location)


def _watch_pipeline(session: Session, memory: RecentChecks, now: datetime,
                    windows: list[tuple[timedelta, timedelta]], settings: Settings) -> bool:
    """Whether Bellwether's own pipeline is behind: no check at all received for longer
    than the shortest freshness window of a pair someone present should check. A stall
    past its grace is paged once; its resolve follows when checks arrive again."""
    newest = memory.watermark or memory.loaded_at
    stalled = bool(windows) and now - memory.loaded_at > min(w for w, _ in windows) \
        and now - newest > min(w for w, _ in windows)
    if stalled:
        memory.stall = memory.stall or newest
        window, grace = min(windows)
        if now - memory.stall >= window + grace:
            _enqueue_once(session, pipeline_notice("trigger", memory.stall, now, settings),
                          now)
    elif memory.stall is not None:
        key = pipeline_dedup_key(memory.stall)
        if store.paged(session, [key]):
            _enqueue_once(session, pipeline_notice("resolve", memory.stall, now, settings),
                          now)
        memory.stall, memory.stall_ended_at = None, now
    return stalled


def _page_gaps(session: Session, memory: RecentChecks, now: datetime, gaps: list[Gap],
               was_no_data: set[Pair], listed: set[Pair], stalled: bool, absent: set[str],
               settings: Settings) -> None:
    """One page per region (and tier) gap episode, once a pair of it outlasted its grace
    for no other root; one resolve when every pair of that region and tier has data."""
    groups: dict[tuple[str, int], list[Gap]] = {}
    for gap in gaps:
        groups.setdefault((gap.region, tier_of(gap.component)), []).append(gap)
    ended = {(region, tier_of(component)) for component, region in was_no_data
             if (component, region) in listed} - set(groups)
    for (region, tier) in sorted(set(groups) | ended):
        members = [c for c, r in listed if r == region and tier_of(c) == tier]
        mine = groups.get((region, tier), [])
        rooted = [g for g in mine if root_of(g, stalled, absent) == REGION]
        if mine and not any(is_pageable(g, now, memory.quiet_from()) for g in rooted):
            continue
        start = episode_start(store.no_data_changes(session, region, members),
                              {g.component for g in mine})
        if start is None:
            continue
        if mine:
            _enqueue_once(session, region_trigger(
                region, tier, start, [g.component for g in rooted], settings), now)
        elif store.paged(session, [region_dedup_key(region, tier, start)]):
            _enqueue_once(session, region_resolve(region, tier, start, settings), now)


def _enqueue_once(session: Session, notice: Notice | None, now: datetime) -> None:
    """Enqueue a page unless the outbox has it already (its unique key): every pass of one
    gap episode names the same one, and any worker may take the pass."""
    if notice is not None:
        enqueue(session, [notice], now)


def _caught_up(ctx: JobContext, session: Session, now: datetime, listed: set[Pair],
               timing: dict[Pair, tuple[int, float]]) -> RecentChecks:
    """This worker's memory of recent checks, with what arrived since its last pass."""
    memory = ctx.parts.get(MEMORY_PART)
    if not isinstance(memory, RecentChecks) or memory.is_stale(now):
        memory = RecentChecks(keep=KEEP, loaded_at=now)
        ctx.parts[MEMORY_PART] = memory
        default = ctx.settings.probe_interval_s
        memory.take(store.checks_of_pairs(session, {
            pair: now - timedelta(seconds=timing.get(pair, (default, 0.0))[0] * (KEEP + 1)
                                  + timing.get(pair, (0, DEFAULT_TIMEOUT))[1])
            for pair in listed}))
        memory.take(store.checks_received_since(session, None, now - RecentChecks.LOOKBACK))
        return memory
    memory.take(store.checks_received_since(session, memory.read_from(),
                                            now - RecentChecks.LOOKBACK))
    return memory


def _watch_agents(session: Session, now: datetime, settings: Settings) -> None:
    """Mark agents silent for 3 intervals (and page once), or back (and resolve); an agent
    that stopped on purpose is neither."""
    seen = [AgentSeen(a.name, a.location, a.last_seen_at, a.silent_since)
            for a in store.agents(session)]
    for change in agent_changes(seen, now, settings):
        if store.mark_agent_silent(session, change.seen.name, change.silent_since,
                                   change.seen.last_seen_at, change.seen.silent_since) \
                and change.notice is not None:
            enqueue(session, [change.notice], now)


def prune_checks(ctx: JobContext) -> int:
    """Delete raw checks past the retention period (never one not rolled up yet), in
    batches of PRUNE_BATCH, one transaction each: an hour of checks at 1 s probes is some
    260,000 rows, and one DELETE of them would hold SQLite's write lock for seconds."""
    retention = timedelta(days=int(ctx.settings.extra.get("retention_days", RETENTION.days)))
    before = ctx.clock.now() - retention
    total = 0
    while True:
        with session_scope(ctx.session_factory) as session:
            deleted = store.prune_checks(session, before, PRUNE_BATCH)
        total += deleted
        if deleted < PRUNE_BATCH:
            return total


JOBS = (
    # On the clock, once a minute, just after the minute closed (and its checks settled):
    # every 5 s it rewrote each pair's minutes around its newest checks about six times a
    # minute, a quarter of an idle `up`'s CPU (docs/benchmarks.md).
    Job("probes.rollup", ROLLUP_EVERY, roll_up_minutes,
        "roll new checks up into minute rollups, once a minute has closed",
        offset=ROLLUP_SETTLE + timedelta(seconds=1)),
    Job("probes.evaluate", timedelta(seconds=1), evaluate_states,
        "evaluate the live state of every component in every region"),
    Job("probes.prune", timedelta(hours=1), prune_checks,
        "delete raw checks past the retention period"),
)
