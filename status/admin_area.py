"""The admin area of the web UI: a home that says at a glance whether Bellwether can still
see and tell (backups against the RPO, agents, probes and certificates, deliveries), and a
page for each. Every page needs an admin; the navigation is base.html's.

It lives in `status` because status is already the package that reads the others through
their functions (core's backups, probes' stores, alerts' outbox): the area adds no new
dependency between packages, and the import-linter contracts keep it off their tables
(`probes.models`, `alerts.models` stay unimported; rows come from `probes.store`,
`probes.tls_jobs` and `alerts.store`). It writes nothing.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, render_template

from alerts.store import outbox_counts
from core.backup import RPO, backup_health, list_backups
from core.jobs import backup_dir
from core.login import require_user
from core.web import current_runtime, request_session
from probes import store as probe_store
from probes.heartbeats import agent_status
from probes.specs import ProbeSpec
from probes.tls import Reading
from probes.tls_jobs import newest_certificates
from status import subscriber_standing

bp = Blueprint("admin_area", __name__, url_prefix="/admin")
#: How many of a (component, region)'s newest checks are read per probe of it, to find
#: each probe's last result (three locations, a few rounds).
CHECKS_PER_PROBE = 12


@dataclass(frozen=True, slots=True)
class AgentLine:
    name: str
    location: str
    version: str
    address: str
    last_seen_at: datetime
    seconds_since: float
    status: str


@dataclass(frozen=True, slots=True)
class ProbeLine:
    """One probe: what it checks and what its newest check and certificate said."""

    spec: ProbeSpec
    state: str | None
    last: Any | None  # the probe's newest stored check (probes.store.recent_checks' row)
    certificate: Reading | None


def ago(seconds: float) -> str:
    """A duration in words for a table cell: 45 s, 12 min, 3 h 5 min, 2 d 4 h.

    >>> ago(3 * 3600 + 300)
    '3 h 5 min'
    """
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def agent_lines(now: datetime) -> list[AgentLine]:
    interval = current_runtime().settings.probe_interval_s
    return [AgentLine(row.name, row.location, row.version, row.address, row.last_seen_at,
                      (now - row.last_seen_at).total_seconds(),
                      agent_status(row.last_seen_at, row.silent_since, now, interval))
            for row in probe_store.agents(request_session())]


def probe_lines(now: datetime) -> list[ProbeLine]:
    """Every probe (enabled or not) with its pair's live state, its newest check and, for
    a TLS probe, its newest certificate."""
    session = request_session()
    specs = probe_store.list_probes(session, current_runtime().settings.regions,
                                    enabled_only=False)
    by_pair: dict[tuple[str, str], list[ProbeSpec]] = defaultdict(list)
    for spec in specs:
        by_pair[(spec.component, spec.region)].append(spec)
    newest: dict[str, Any] = {}
    for (component, region), probes in by_pair.items():
        for row in probe_store.recent_checks(session, component, region,
                                             limit=CHECKS_PER_PROBE * len(probes)):
            newest.setdefault(row.probe, row)  # newest first: keep the first seen
    states = {pair: row.state for pair, row in probe_store.states(session).items()}
    certificates = {probe.name: reading
                    for probe, reading in newest_certificates(session, now).items()}
    return [ProbeLine(spec, states.get((spec.component, spec.region)), newest.get(spec.name),
                      certificates.get(spec.name)) for spec in specs]


@bp.get("")
@require_user()
def home() -> Any:
    """The admin's home: one line per area, saying whether anything needs them."""
    runtime = current_runtime()
    now = runtime.clock.now()
    session = request_session()
    agents = Counter(line.status for line in agent_lines(now))
    warn_days = runtime.settings.tls_warn_days
    probes = probe_lines(now)
    return render_template(
        "admin/home.html", now=now, ago=ago,
        backups=backup_health(backup_dir(runtime.settings), now), agents=agents,
        probes=len(probes), failing=sum(1 for p in probes if p.last is not None and not p.last.ok),
        expiring=sum(1 for p in probes
                     if p.certificate is not None and p.certificate.days_left <= warn_days),
        warn_days=warn_days, failing_subscribers=len(subscriber_standing.failing(session)),
        dead=sum(outbox_counts(session).dead.values()))


@bp.get("/backups")
@require_user()
def backups() -> Any:
    """Backups on disk, the newest one's age against the RPO, and the last failed attempt."""
    runtime = current_runtime()
    now = runtime.clock.now()
    directory = backup_dir(runtime.settings)
    return render_template("admin/backups.html", now=now, ago=ago, directory=directory,
                           health=backup_health(directory, now), rpo=RPO,
                           backups=list_backups(directory),
                           interval=timedelta(minutes=float(runtime.settings.extra.get(
                               "backup_interval_minutes", 60))))


@bp.get("/agents")
@require_user()
def agents() -> Any:
    """Remote agents: where they probe from, their version, when each was last heard."""
    runtime = current_runtime()
    now = runtime.clock.now()
    return render_template("admin/agents.html", now=now, ago=ago, agents=agent_lines(now),
                           interval_s=runtime.settings.probe_interval_s)


@bp.get("/probes")
@require_user()
def probes() -> Any:
    """Every probe's newest result and, for TLS probes, the certificate's days left."""
    runtime = current_runtime()
    now = runtime.clock.now()
    return render_template("admin/probes.html", now=now, ago=ago, probes=probe_lines(now),
                           warn_days=runtime.settings.tls_warn_days)
