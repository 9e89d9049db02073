"""The status package's background job: turn state changes into incidents and follow them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from core.config import Settings
from core.db import one_write_lock, read_scope, session_scope
from core.scheduler import Job, JobContext
from probes import store as probes_store
from status import actions, store
from status.incidents import (
    FAILING_STATES,
    Assignment,
    Impact,
    IncidentStatus,
    Key,
    Live,
    OpenIncident,
    Origin,
    assign_failures,
    automatic_message,
    automatic_title,
    awaiting_root,
    downgrades,
    episode_status,
    format_duration,
    raises_impact,
    recovered_for,
    track,
    whole_regions,
    worst_impact,
)
from status.models import Incident


def correlation(settings: Settings) -> timedelta:
    """How close in time failures in one region must begin to be one incident."""
    seconds = settings.extra.get("incident_correlation_s", settings.probe_interval_s * 4)
    return timedelta(seconds=float(seconds))


def cooldown(settings: Settings) -> timedelta:
    """How long everything must work before an incident resolves itself (3 probe intervals)."""
    seconds = settings.extra.get("incident_cooldown_s", settings.probe_interval_s * 3)
    return timedelta(seconds=int(seconds))


def reopen_window(settings: Settings) -> timedelta:
    """How long after resolving a root failing again is the same episode (reopened)."""
    return timedelta(seconds=float(settings.extra.get("incident_reopen_s", 600)))


def group_wait(settings: Settings) -> timedelta:
    """How long a failure with dependencies waits for them to confirm before it opens its
    own incident: one confirmation re-check (`retry_interval_s`, at most a probe interval)
    plus a second for evaluation."""
    seconds = settings.extra.get(
        "incident_group_wait_s", min(settings.retry_interval_s, settings.probe_interval_s) + 1)
    return timedelta(seconds=float(seconds))


def notice_settle(settings: Settings) -> timedelta:
    """How long an episode's first notice waits after the page, to name all it affects."""
    return timedelta(seconds=float(settings.extra.get("notice_settle_s", 30)))


def notice_interval(settings: Settings) -> timedelta:
    """The least time between two notices of one episode (the resolution excepted)."""
    return timedelta(seconds=float(settings.extra.get("notice_interval_s", 300)))


@dataclass
class Pass:
    """What one pass of the incident job knows and has done so far."""

    session: Session
    settings: Settings
    now: datetime
    live: dict[Key, Live]
    failed_at: dict[Key, datetime]
    incidents: dict[int, Incident]
    opened: set[int] = field(default_factory=set)
    reopened: set[int] = field(default_factory=set)
    joined: dict[int, list[Key]] = field(default_factory=dict)
    evidence: dict[int, list[dict[str, Any]]] = field(default_factory=dict)


def track_incidents(ctx: JobContext) -> int:
    """Open, group, follow and resolve automatic incidents; how many items it handled.

    1. Take the pass lock (one worker at a time) and claim the unhandled state changes.
    2. Read the live state; what an active maintenance window covers is under_maintenance.
    3. Failing (component, region)s no incident has covered yet are grouped by root cause
       and join an open automatic incident or open one (PagerDuty trigger).
    4. Every open automatic incident follows the state of what it affects; more components
       or a higher impact are updates on it, and only a routing key not paged yet (a tier
       escalation) gets a trigger: one page per key per episode.
    5. An incident whose components all work again shows `monitoring`; once they have
       worked for the cool-down it resolves itself (each alert resolved once, on its key).
       A root failing again within `incident_reopen_s` reopens its incident: the same
       episode, the same dedup_key, a new trigger only if PagerDuty already got the resolve.
    6. Subscribers hear each episode as one story (`store.announce_due`).
    It is one transaction: changes handled, incidents written and pages enqueued together.
    A quiet pass (nothing changed, nothing open, nothing failing) decides so in a read scope
    and never takes the write lock. On SQLite a pass without a state change to claim is
    first run in a read scope (`_planned`): during an outage nearly every pass only moves
    `last_bad_at` and the followed states, and a whole pass inside the write lock held it
    222 ms on average at 1 s probes on a loaded machine (docs/benchmarks.md); such a pass
    then writes just those columns in a short transaction. Anything more (a row to add, a
    change claimed, an incident edited meanwhile) runs the pass again in the write lock.
    """
    now = ctx.clock.now()
    planned: _Planned | None = None
    with read_scope(ctx.session_factory) as session:
        if not store.incident_pass_needed(session):
            return 0
        if one_write_lock(ctx.session_factory) \
                and not probes_store.has_unhandled_state_changes(session):
            planned = _planned(ctx, session, now)
    if planned is not None:
        with session_scope(ctx.session_factory) as session:
            if _open_versions(session) == planned.versions:
                session.add_all(planned.dirty)
                return planned.handled
    with session_scope(ctx.session_factory) as session:
        if not store.lock_incident_pass(session):
            return 0
        return _pass(ctx, session, now, probes_store.claim_state_changes(session))


@dataclass(frozen=True)
class _Planned:
    """A pass worked out in a read scope that only changes columns of rows it read."""

    dirty: list[Any]
    versions: dict[int, datetime | None]
    handled: int


def _open_versions(session: Session) -> dict[int, datetime | None]:
    """Each open automatic incident's last edit: a plan made from older rows is redone."""
    rows = session.execute(select(Incident.id, Incident.updated_at).where(
        Incident.resolved_at.is_(None), Incident.origin == "automatic"))
    return {incident_id: updated_at for incident_id, updated_at in rows}


def _planned(ctx: JobContext, session: Session, now: datetime) -> _Planned | None:
    """Run a pass in this read scope without flushing; the rows it changed, or None when it
    would add or delete rows (or flush: the read scope refuses to write)."""
    versions = _open_versions(session)
    try:
        with session.no_autoflush:
            handled = _pass(ctx, session, now, [])
    except OperationalError:  # a flush in the pass: it adds rows, so it needs the lock
        session.rollback()
        return None
    if session.new or session.deleted:
        return None
    dirty = [row for row in session.dirty if session.is_modified(row)]
    return _Planned(dirty, versions, handled)


def _pass(ctx: JobContext, session: Session, now: datetime,
          changes: Sequence[probes_store.ClaimedChange]) -> int:
    """One pass over `changes` (claimed by the caller) and the open incidents."""
    measured = store.live_states(session)
    covered = store.covered_keys(measured, store.active_windows(session, now), now)
    live = {key: replace(value, state="under_maintenance") if key in covered else value
            for key, value in measured.items()}
    failed_at = {(c.component, c.region): c.at for c in changes
                 if c.to_state in FAILING_STATES}
    incidents = {row.id: row for row in store.open_automatic_incidents(session)}
    run = Pass(session, ctx.settings, now, live, failed_at, incidents)
    failing = {key for key, value in live.items() if value.state in FAILING_STATES}
    since = {key: live[key].since for key in failing}
    new = failing - store.keys_with_incident_since(session, since)
    new -= awaiting_root(new, live, now, group_wait(ctx.settings))
    recent: dict[int, Incident] = {}
    if new:
        recent = {row.id: row for row in store.recently_resolved_automatic(
            session, now - reopen_window(ctx.settings))}
    values = [_value_of(row) for row in (*incidents.values(), *recent.values())]
    for assignment in assign_failures(new, failing, values, now, correlation(ctx.settings)):
        if assignment.incident_id in recent:
            _reopen(run, recent.pop(assignment.incident_id))
        _apply(run, assignment)
    followed = list(run.incidents.values())
    resolved = sum(_follow(run, row) for row in followed)
    told = sum(store.announce_due(session, row, now, ctx.settings,
                                  notice_settle(ctx.settings), notice_interval(ctx.settings))
               for row in followed)
    return len(changes) + len(run.opened) + len(run.joined) + resolved + told


def _value_of(row: Incident) -> OpenIncident:
    return OpenIncident(row.id, row.root_component or "", row.opened_at, store.tracked_of(row),
                        row.resolved_at)


def _reopen(run: Pass, incident: Incident) -> None:
    """The same root fails again soon after its incident resolved: one episode."""
    incident.resolved_at, incident.reopened_at = None, run.now
    incident.last_bad_at = run.now
    note = (f"{incident.root_component or 'The failure'} fails again "
            f"{format_duration(run.now - (incident.updated_at or run.now))} after recovering; "
            "this incident is reopened.")
    row = store.add_update(run.session, incident, IncidentStatus.INVESTIGATING.value, note,
                           run.now, run.settings, automatic=True, notify=False)
    store.reopen_pages(run.session, incident, row.id, run.settings, run.now)
    run.incidents[incident.id] = incident
    run.reopened.add(incident.id)


def _evidence(run: Pass, keys: Sequence[Key]) -> tuple[datetime, list[dict[str, Any]]]:
    """The earliest failing check behind these failures, and a few failing checks."""
    firsts: list[datetime] = []
    checks: list[dict[str, Any]] = []
    for key in keys:
        until = run.failed_at.get(key, run.live[key].since)
        first, some = store.failure_evidence(run.session, key[0], key[1], until)
        firsts.append(first or until)
        checks.extend(some)
    return min(firsts), sorted(checks, key=lambda c: str(c["at"]))[:5]


def _apply(run: Pass, assignment: Assignment) -> None:
    first_failure, checks = _evidence(run, assignment.keys)
    affected = [(c, r, run.live[(c, r)].state) for c, r in assignment.keys]
    if assignment.incident_id is None:
        incident = Incident(title=assignment.root, impact=Impact.MINOR.value,
                            status=IncidentStatus.INVESTIGATING.value,
                            origin=Origin.AUTOMATIC.value, root_component=assignment.root,
                            first_failure_at=first_failure, opened_at=run.now,
                            last_bad_at=run.now, updated_at=run.now)
        run.session.add(incident)
        store.add_components(incident, affected, run.now)
        run.session.flush()
        run.incidents[incident.id] = incident
        run.opened.add(incident.id)
    else:
        incident = run.incidents[assignment.incident_id]
        incident.root_component = assignment.root
        if incident.first_failure_at is None or first_failure < incident.first_failure_at:
            incident.first_failure_at = first_failure
        if store.add_components(incident, affected, run.now):
            run.joined.setdefault(incident.id, []).extend(assignment.keys)
    run.evidence.setdefault(incident.id, []).extend(checks)


def _follow(run: Pass, incident: Incident) -> int:
    """Follow one open incident's components; page a new key on escalation; 1 if it
    resolved."""
    before = incident.impact
    tracked = track(store.tracked_of(incident), run.live, run.now)
    store.apply_tracked(incident, tracked)
    impact = worst_impact((t.component, t.state) for t in tracked)
    if impact is not None:
        incident.impact = impact.value
    failing_now = any(t.state in FAILING_STATES for t in tracked)
    if failing_now:
        incident.last_bad_at = run.now
    root = incident.root_component or tracked[0].component
    if not incident.taken_over and failing_now:
        whole = whole_regions(tracked, run.live)
        title = automatic_title(root, tracked, whole)
        if not downgrades(incident.title, title):  # a recovery keeps the worst wording
            incident.title = title
            incident.public_message = automatic_message(root, tracked, whole)
    evidence = run.evidence.get(incident.id, [])
    if incident.id in run.opened:
        first = store.add_update(run.session, incident, incident.status,
                                 incident.public_message, run.now, run.settings,
                                 automatic=True, notify=False)
        store.page(run.session, incident, "trigger", first.id, run.settings, run.now, evidence)
        return 0
    joined = run.joined.get(incident.id, [])
    if joined or raises_impact(before, incident.impact):
        note = _escalation_note(joined, incident.impact)
        row = store.add_update(run.session, incident, incident.status, note, run.now,
                               run.settings, automatic=True, notify=False)
        store.page(run.session, incident, "trigger", row.id, run.settings, run.now, evidence)
        return 0
    wait = cooldown(run.settings)
    if recovered_for(tracked, run.live, run.now, wait):
        body = (f"Every affected component has worked normally for {format_duration(wait)} "
                "or longer; this incident is resolved.")
        actions.close(run.session, incident, body, None, run.now, run.settings, automatic=True,
                      notify=False)
        return 1
    status = episode_status(tracked, incident.status)
    if status != incident.status and incident.id not in run.reopened:
        note = (f"Every affected component works again; we are monitoring until it has "
                f"worked for {format_duration(wait)}."
                if status == IncidentStatus.MONITORING else
                "The failure is back; we are investigating.")
        store.add_update(run.session, incident, status, note, run.now, run.settings,
                         automatic=True, notify=False)
    return 0


def _escalation_note(joined: Sequence[Key], impact: str) -> str:
    if joined:
        names = ", ".join(f"{c} ({r})" for c, r in joined)
        return f"Now also affecting {names}. Impact: {impact}."
    return f"The impact is now {impact}."


JOBS = (
    Job("status.incidents", timedelta(seconds=1), track_incidents,
        "open, group, follow and resolve automatic incidents from state changes"),
)
