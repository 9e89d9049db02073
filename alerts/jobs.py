"""The alerts package's background jobs: deliver what the outbox holds, pages first.

Two jobs, two dispatchers with pools of their own (see alerts.dispatch): `alerts.pages`
sends the page lane alone, so a page never waits for subscriber notices; `alerts.dispatch`
sends everything else (after a page-lane pass of its own, so one run by hand delivers
everything).

Neither polls the outbox while nothing arrives: a lane is looked at when a transaction that
enqueued into it committed in this process (`alerts.outbox.ENQUEUED`), after a pass that
found work, and otherwise every `PAGE_SAFETY_S` / `NOTICE_SAFETY_S` (rows from another
process, retries coming due, leases running out). An idle pass costs no query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from alerts.dispatch import (
    LEASE,
    NOTICES_ONLY,
    PAGE_BATCH,
    PAGE_PASS_TIME,
    PAGE_POOL_SIZE,
    PAGES_ONLY,
    Dispatcher,
)
from alerts.outbox import ENQUEUED, NOTICE_LANE, PAGE_LANE
from alerts.pagerduty_timeline import follow_up_resolves
from alerts.senders import build_senders
from core.scheduler import Job, JobContext
from core.signals import Look

PAGES_EVERY = timedelta(seconds=0.25)
#: How often a lane is looked at without a signal: pages within a second whatever wrote
#: them; notices (settled for 30 s anyway) within five.
PAGE_SAFETY_S = 1.0
NOTICE_SAFETY_S = 5.0


@dataclass(frozen=True, slots=True)
class LaneDispatchers:
    """The page lane's dispatcher and the notice lanes', sharing one set of senders."""

    pages: Dispatcher
    notices: Dispatcher


def dispatchers(ctx: JobContext) -> LaneDispatchers:
    """The context's dispatchers, made on first use and kept in `ctx.parts`, so their worker
    names are stable; senders from `ctx.parts["senders"]` or the settings. The two jobs may
    ask at once: the first one stored wins."""
    found = ctx.parts.get("outbox_dispatchers")
    if isinstance(found, LaneDispatchers):
        return found
    senders = ctx.parts.get("senders") or build_senders(ctx.settings, ctx.clock)
    lease = timedelta(seconds=float(ctx.settings.extra.get("outbox_lease_s",
                                                           LEASE.total_seconds())))
    made = LaneDispatchers(
        pages=Dispatcher(senders, lease=lease, lanes=PAGES_ONLY, pool_size=PAGE_POOL_SIZE,
                         batch=PAGE_BATCH, pass_time=PAGE_PASS_TIME),
        notices=Dispatcher(senders, lease=lease, lanes=NOTICES_ONLY))
    kept = ctx.parts.setdefault("outbox_dispatchers", made)
    assert isinstance(kept, LaneDispatchers)
    return kept


def _look(ctx: JobContext, lane: int) -> Look:
    found = ctx.parts.get(f"outbox_look_{lane}")
    if isinstance(found, Look):
        return found
    made = Look(ENQUEUED[lane], PAGE_SAFETY_S if lane == PAGE_LANE else NOTICE_SAFETY_S)
    kept = ctx.parts.setdefault(f"outbox_look_{lane}", made)
    assert isinstance(kept, Look)
    return kept


def _lane_pass(ctx: JobContext, lane: int, dispatcher: Dispatcher) -> int:
    look = _look(ctx, lane)
    if not look.due(ctx.clock.monotonic()):
        return 0
    attempted = dispatcher.run_once(ctx.session_factory, ctx.clock)
    if attempted:
        look.found_work()
    return attempted


def page_once(ctx: JobContext) -> int:
    """One pass over the page lane, when it may hold something: PagerDuty triggers,
    acknowledges and resolves, a few at a time, for at most `PAGE_PASS_TIME`; how many
    were attempted."""
    return _lane_pass(ctx, PAGE_LANE, dispatchers(ctx).pages)


def dispatch_once(ctx: JobContext) -> int:
    """A page-lane pass, then one notice-lane pass (each when its lane may hold something):
    deliver due outbox rows, claiming again while claims come back full, for at most
    `PASS_TIME` (under this job's 1 s interval); how many were attempted."""
    lanes = dispatchers(ctx)
    attempted = _lane_pass(ctx, PAGE_LANE, lanes.pages)
    return attempted + _lane_pass(ctx, NOTICE_LANE, lanes.notices)


def follow_up_pagerduty(ctx: JobContext) -> int:
    """Say on the timeline when probes still see an outage PagerDuty was told is resolved
    (alerts.pagerduty_timeline); how many PagerDuty resolves were followed up."""
    return follow_up_resolves(ctx.session_factory, ctx.clock.now(), ctx.settings)


JOBS = (
    Job("alerts.pages", PAGES_EVERY, page_once,
        "send PagerDuty events (the outbox's page lane) ahead of everything else"),
    Job("alerts.dispatch", timedelta(seconds=1), dispatch_once,
        "deliver due outbox rows: PagerDuty events first, then emails and webhooks"),
    Job("alerts.pagerduty_followup", timedelta(seconds=2), follow_up_pagerduty,
        "note on the timeline when probes still see an outage resolved in PagerDuty"),
)
