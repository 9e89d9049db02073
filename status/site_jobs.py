"""Keeping the static copy of the public site fresh: the `status.publish` job, which renders
only when what the site shows changed (`status.changes.marker`) or `REFRESH` passed."""

from __future__ import annotations

from datetime import timedelta

from core.db import read_scope, try_singleton
from core.scheduler import Job, JobContext
from status import changes
from status.site import Site, public_dir

#: Republish at least this often even when nothing changed, for what moves with time alone:
#: the latency charts (on a 5-minute axis), "generated at", the uptime figures' passing
#: minutes. It was a minute: a whole render (every page, 90 days of bars, every .gz) each
#: minute was the second largest idle cost of `up` (docs/benchmarks.md).
REFRESH = timedelta(minutes=5)


def publish_site(ctx: JobContext) -> int:
    """Render the site into the public directory when what it says changed; files written.

    A pass that finds the marker where it was and less than `REFRESH` since the last render
    costs a few aggregate queries (it rendered and fingerprinted every page every 2 s).
    """
    site = ctx.parts.get("site")
    if not isinstance(site, Site):
        site = ctx.parts["site"] = Site(ctx.settings)
    now = ctx.clock.now()
    last = ctx.parts.get("published_at")
    force = last is None or now - last >= REFRESH
    out_dir = public_dir(ctx.settings)
    # Rendering only reads: in a read scope it never holds SQLite's write lock (it held it
    # for 0.51 s a pass on average, up to 1.5 s, at 1 s probes, docs/benchmarks.md).
    with read_scope(ctx.session_factory) as session:
        if not try_singleton(session, "status.publish"):
            return 0
        seen = changes.marker(session, now)
        if not force and seen == ctx.parts.get("published_sources"):
            return 0
        result = site.publish(session, now, out_dir, ctx.parts.get("published_mark"), force)
    ctx.parts["published_sources"] = seen
    if result.changed:
        ctx.parts.update(published_mark=result.fingerprint, published_at=now,
                         public_dir=out_dir)
    return result.files


JOBS = (Job("status.publish", timedelta(seconds=2), publish_site,
            "render the public site into its static directory when it changed"),)
