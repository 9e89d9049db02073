"""The probes package's background jobs: roll up minutes, evaluate live state, prune."""

from __future__ import annotations

import math
from datetime import timedelta

from core.db import session_scope, try_singleton
from core.scheduler import Job, JobContext
from probes import store
from probes.evaluate import WINDOW, Observed, evaluate
from probes.rollup import roll_up
from sla.period import minute_of, minute_start

ROLLUP_BATCH = 20_000
#: How far behind now the rollup stays, so that checks still in flight land first.
ROLLUP_SETTLE = timedelta(seconds=2)
RETENTION = timedelta(days=30)


def roll_up_minutes(ctx: JobContext) -> int:
    """Roll up a batch of new checks into minute rollups; how many checks were rolled up.

    1. Claim unrolled checks (other workers skip them on PostgreSQL).
    2. Per (component, region), recompute every minute they can change: a new check can
       confirm a failure run up to `confirmations` intervals away, before or after it.
    3. Rewrite those minutes' rollups and mark the checks rolled up, in one transaction.
    """
    confirmations = ctx.settings.confirmations
    with session_scope(ctx.session_factory) as session:
        claimed = store.claim_unrolled(session, ctx.clock.now() - ROLLUP_SETTLE, ROLLUP_BATCH)
        for (component, region), batch in sorted(claimed.items()):
            store.lock_series(session, component, region)
            reach = math.ceil(confirmations * batch.max_interval_s / 60) + 1
            first = minute_of(batch.first) - reach
            last = minute_of(batch.last) + reach
            series = store.series_checks(session, component, region,
                                         minute_start(first - reach),
                                         minute_start(last + reach + 1))
            per_location, combined = roll_up(series, range(first, last + 1), confirmations)
            store.replace_rollups(session, component, region, first, last, per_location,
                                  combined)
            store.mark_rolled_up(session, batch.ids)
        return sum(len(batch.ids) for batch in claimed.values())


def evaluate_states(ctx: JobContext) -> int:
    """Evaluate the live state of every probed (component, region); how many changed."""
    now = ctx.clock.now()
    confirmations = ctx.settings.confirmations
    changed = 0
    with session_scope(ctx.session_factory) as session:
        if not try_singleton(session, "probes.evaluate"):
            return 0  # another worker is evaluating right now
        probes = store.list_probes(session, ctx.settings.regions)
        intervals: dict[tuple[str, str], tuple[int, float]] = {}
        for probe in probes:
            known = intervals.get((probe.component, probe.region), (0, 0.0))
            intervals[(probe.component, probe.region)] = (
                max(known[0], probe.interval_s), max(known[1], probe.timeout_s))
        if not intervals:
            return 0
        longest = max(i for i, _ in intervals.values())
        horizon = now - timedelta(seconds=longest * (WINDOW + confirmations + 1))
        recent = store.recent_observations(session, horizon)
        known_states = store.states(session)
        for key, (interval, timeout) in sorted(intervals.items()):
            fresh_after = now - timedelta(seconds=3 * interval + timeout)
            per_location: dict[str, list[Observed]] = {}
            for location, checks in recent.get(key, {}).items():
                if checks and checks[-1][0] >= fresh_after:
                    per_location[location] = [observed for _, observed in checks]
            evaluation = evaluate(per_location, confirmations)
            if evaluation is not None:
                changed += store.record_state(session, *key, evaluation, now,
                                              known_states.get(key))
    return changed


def prune_checks(ctx: JobContext) -> int:
    """Delete raw checks past the retention period (never one not rolled up yet)."""
    retention = timedelta(days=int(ctx.settings.extra.get("retention_days", RETENTION.days)))
    with session_scope(ctx.session_factory) as session:
        return store.prune_checks(session, ctx.clock.now() - retention)


JOBS = (
    Job("probes.rollup", timedelta(seconds=5), roll_up_minutes,
        "roll new checks up into minute rollups"),
    Job("probes.evaluate", timedelta(seconds=1), evaluate_states,
        "evaluate the live state of every component in every region"),
    Job("probes.prune", timedelta(hours=1), prune_checks,
        "delete raw checks past the retention period"),
)
