"""The probes package's background jobs: roll up minutes, evaluate live state, prune."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from alerts.outbox import enqueue
from commerce.catalog import SERVICES
from core.config import Settings
from core.db import one_write_lock, read_scope, session_scope, try_singleton
from core.job_runs import EVALUATOR, record_job_run
from core.scheduler import Job, JobContext
from probes import store
from probes.evaluate import FRESH_INTERVALS, WINDOW, State, evaluate_pair
from probes.recent import RecentChecks
from probes.rollup import RawCheck, roll_up
from probes.silence import AgentSeen, Change, agent_changes, gap_notices
from sla.period import minute_of, minute_start

ROLLUP_BATCH = 20_000
#: Checks per claim on SQLite: each series of a claim is then written in its own short
#: write transaction (a few ms at 1 s probes).
SQLITE_ROLLUP_BATCH = 2_000
#: Raw checks deleted per write transaction when pruning.
PRUNE_BATCH = 2_000
#: How far behind now the rollup stays, so that checks still in flight land first.
ROLLUP_SETTLE = timedelta(seconds=2)
RETENTION = timedelta(days=30)
MEMORY_PART = "probes.evaluate.memory"
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
    with session_scope(ctx.session_factory) as session:
        claimed = store.claim_unrolled(session, ctx.clock.now() - ROLLUP_SETTLE, ROLLUP_BATCH)
        for (component, region), batch in sorted(claimed.items()):
            store.lock_series(session, component, region)
            first, last, series = _series_around(session, component, region, batch,
                                                 confirmations)
            per_location, combined = roll_up(series, range(first, last + 1), confirmations)
            store.replace_rollups(session, component, region, first, last, per_location,
                                  combined)
            store.mark_rolled_up(session, batch.ids)
        return sum(len(batch.ids) for batch in claimed.values())


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
    locations expected to check it goes `no_data`, paged once per gap (`probes.silence`),
    as is an agent that stopped reporting. The pass's time goes to `job_runs` in a
    transaction of its own, so `/healthz` and `/metrics` see when evaluation stops.
    """
    now = ctx.clock.now()
    ran = ok = False
    try:
        with session_scope(ctx.session_factory) as session:
            if not try_singleton(session, EVALUATOR):
                return 0  # another worker is evaluating right now (and records its run)
            ran = True
            changed = _evaluate(ctx, session, now)
        ok = True
        return changed
    finally:
        if ran:
            with session_scope(ctx.session_factory) as session:
                record_job_run(session, EVALUATOR, now, ok)


def _evaluate(ctx: JobContext, session: Session, now: datetime) -> int:
    settings = ctx.settings
    timing: dict[Pair, tuple[int, float]] = {}
    for probe in store.list_probes(session, settings.regions):
        known = timing.get((probe.component, probe.region), (0, 0.0))
        timing[(probe.component, probe.region)] = (
            max(known[0], probe.interval_s), max(known[1], probe.timeout_s))
    probed = set(timing)
    known_states = store.states(session)
    # Listed pairs whose probes were disabled or removed must not keep their last state.
    listed = probed | store.probe_pairs(session, settings.regions) | {
        pair for pair in known_states
        if pair[1] in settings.regions and pair[0] in SERVICES}
    memory = _caught_up(ctx, session, now, listed, timing)
    in_process = tuple(getattr(ctx.parts.get("probes"), "locations", ()))
    changes: list[Change] = []
    for pair in sorted(listed):
        interval, timeout = timing.get(
            pair, (memory.intervals.get(pair, settings.probe_interval_s), DEFAULT_TIMEOUT))
        fresh_after = now - timedelta(seconds=FRESH_INTERVALS * interval + timeout)
        memory.forget(pair, now - timedelta(seconds=interval * (KEEP + 1) + timeout))
        heard = set(memory.last_seen(pair))
        expected = heard | (set(in_process) if pair in probed else set())
        evaluation = evaluate_pair(memory.fresh(pair, fresh_after), expected,
                                   settings.confirmations)
        listed_at = memory.listed(pair, now)
        if evaluation.state is State.NO_DATA and listed_at > fresh_after:
            # Just listed, or this worker just (re)started: a silence is only judged after
            # watching for as long as it takes to become one (no page at every restart).
            continue
        old = known_states.get(pair)
        old_state = old.state if old is not None else State.OPERATIONAL.value
        old_since = old.since if old is not None else now
        if store.record_state(session, *pair, evaluation, now, old):
            changes.append(Change(*pair, old_state, evaluation.state.value, old_since,
                                  now, evaluation.reason))
    memory.last_pass = now
    enqueue(session, gap_notices(changes, settings), now)
    _watch_agents(session, now, settings)
    return len(changes)


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
    """Mark agents silent for 3 intervals (and page once), or back (and resolve)."""
    seen = [AgentSeen(a.name, a.location, a.last_seen_at, a.silent_since)
            for a in store.agents(session)]
    changes, notices = agent_changes(seen, now, settings)
    for name, since in changes.items():
        store.mark_agent_silent(session, name, since)
    enqueue(session, notices, now)


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
    Job("probes.rollup", timedelta(seconds=5), roll_up_minutes,
        "roll new checks up into minute rollups"),
    Job("probes.evaluate", timedelta(seconds=1), evaluate_states,
        "evaluate the live state of every component in every region"),
    Job("probes.prune", timedelta(hours=1), prune_checks,
        "delete raw checks past the retention period"),
)
