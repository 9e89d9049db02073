"""The alerts package's background job: deliver what the outbox holds."""

from __future__ import annotations

from datetime import timedelta

from alerts.dispatch import LEASE, Dispatcher
from alerts.senders import build_senders
from core.scheduler import Job, JobContext


def dispatch_once(ctx: JobContext) -> int:
    """One dispatcher pass: deliver due outbox rows, claiming again while claims come back
    full, for at most `PASS_TIME` (under this job's 1 s interval); how many were attempted.

    The dispatcher (and its senders, from `ctx.parts["senders"]` or the settings) is made
    once per context and kept in `ctx.parts["dispatcher"]`, so its worker name is stable.
    """
    dispatcher = ctx.parts.get("dispatcher")
    if not isinstance(dispatcher, Dispatcher):
        senders = ctx.parts.get("senders") or build_senders(ctx.settings, ctx.clock)
        lease = timedelta(seconds=float(ctx.settings.extra.get("outbox_lease_s",
                                                               LEASE.total_seconds())))
        dispatcher = Dispatcher(senders, lease=lease)
        ctx.parts["dispatcher"] = dispatcher
    return dispatcher.run_once(ctx.session_factory, ctx.clock)


JOBS = (
    Job("alerts.dispatch", timedelta(seconds=1), dispatch_once,
        "deliver due outbox rows: PagerDuty events, emails, webhooks"),
)
