"""Queries of the probes package: small functions over a Session, one per question."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, delete, func, insert, select, text, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from alerts import store as alerts_store
from core.errors import NotFound
from probes.checks import CheckResult
from probes.evaluate import Evaluation, State
from probes.heartbeats import Heartbeat
from probes.models import (
    NOTABLE_ROLLUPS,
    Agent,
    CheckRow,
    ComponentDay,
    ComponentMinute,
    ComponentState,
    LocationMinute,
    Probe,
    RecheckRow,
    StateChange,
)
from probes.recent import SeenCheck
from probes.relay import Job, RecheckRequest
from probes.rollup import ComponentMinuteRollup, LocationMinuteRollup, RawCheck
from probes.silence import GapChange
from probes.specs import ProbeSpec, parse_probe, probe_to_json
from probes.tls import Reading, TlsProbe, reading_from_check

DAY_MINUTES = 1440


def _insert_ignoring_duplicates(session: Session, model: Any) -> Any:
    """INSERT … ON CONFLICT DO NOTHING on either backend."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(model).on_conflict_do_nothing()


# --- probes ---------------------------------------------------------------------------------

def sync_probes(session: Session, specs: Iterable[ProbeSpec], now: datetime) -> int:
    """Store default and config-file probes; probes made through the API are left alone."""
    count = 0
    for spec in specs:
        row = session.get(Probe, spec.name)
        if row is not None and row.source == "api":
            continue
        if row is None:
            row = Probe(name=spec.name)
            session.add(row)
        row.component, row.region, row.source = spec.component, spec.region, spec.source
        row.enabled, row.spec, row.updated_at = spec.enabled, probe_to_json(spec), now
        count += 1
    return count


def save_probe(session: Session, spec: ProbeSpec, now: datetime) -> None:
    row = session.get(Probe, spec.name) or Probe(name=spec.name)
    row.component, row.region, row.source = spec.component, spec.region, spec.source
    row.enabled, row.spec, row.updated_at = spec.enabled, probe_to_json(spec), now
    session.add(row)


def delete_probe(session: Session, name: str) -> None:
    row = session.get(Probe, name)
    if row is None:
        raise NotFound(f"no probe named {name!r}")
    session.delete(row)


def probe_pairs(session: Session, regions: Sequence[str]) -> set[tuple[str, str]]:
    """Every (component, region) with a probe, enabled or not, in the configured regions."""
    return {(component, region) for component, region in session.execute(
        select(Probe.component, Probe.region).distinct()) if region in regions}


def probe_list_marker(session: Session) -> tuple[int, int, datetime | None]:
    """Changes whenever a probe is added, removed, switched or edited (each sets
    `updated_at`): one aggregate, so a caller can keep the parsed list until it moves."""
    count, enabled, newest = session.execute(
        select(func.count(), func.count().filter(Probe.enabled.is_(True)),
               func.max(Probe.updated_at))).one()
    return int(count), int(enabled), newest


def list_probes(session: Session, regions: Sequence[str], enabled_only: bool = True,
                ) -> list[ProbeSpec]:
    query = select(Probe).order_by(Probe.name)
    if enabled_only:
        query = query.where(Probe.enabled.is_(True))
    return [parse_probe(row.spec, regions, source=row.source) for row in session.scalars(query)]


# --- checks ---------------------------------------------------------------------------------

COPY_COLUMNS = ("id", "probe", "component", "region", "location", "intended_at", "started_at",
                "ok", "degraded", "latency_ms", "interval_s", "status_code", "error",
                "warning", "timings", "figures", "rolled_up", "received_at")


def save_checks(session: Session, checks: Sequence[CheckResult], now: datetime) -> int:
    """Store checks once each (a batch sent twice is stored once); how many were new.

    No count query first (it was 97 % of ingest time on PostgreSQL, docs/benchmarks.md):
    PostgreSQL COPYs the batch into a temporary table and inserts what is new from it;
    SQLite inserts with ON CONFLICT DO NOTHING RETURNING id, the new ones.
    """
    if not checks:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        return _copy_checks(session, checks, now)
    rows = [dict(zip(COPY_COLUMNS, _row(c, now), strict=True)) for c in checks]
    statement = _insert_ignoring_duplicates(session, CheckRow).returning(CheckRow.id)
    return len(session.execute(statement, rows).all())


def _row(c: CheckResult, now: datetime) -> tuple[Any, ...]:
    return (c.id, c.probe, c.component, c.region, c.location, c.intended_at, c.started_at,
            c.ok, c.degraded, c.latency_ms, c.interval_s, c.status_code, c.error, c.warning,
            dict(c.timings), dict(c.figures), False, now)


def _copy_checks(session: Session, checks: Sequence[CheckResult], now: datetime) -> int:
    columns = ", ".join(COPY_COLUMNS)
    driver = session.connection().connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS probe_checks_in "
                       "(LIKE probe_checks INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
        with cursor.copy(f"COPY probe_checks_in ({columns}) FROM STDIN") as copy:
            for check in checks:
                row = list(_row(check, now))
                row[14], row[15] = json.dumps(row[14]), json.dumps(row[15])
                copy.write_row(row)
        cursor.execute(f"INSERT INTO probe_checks ({columns}) SELECT {columns} "
                       "FROM probe_checks_in ON CONFLICT (id) DO NOTHING")
        return int(cursor.rowcount)


def _seen(rows: Iterable[Any]) -> list[SeenCheck]:
    return [SeenCheck(*row) for row in rows]


_SEEN_COLUMNS = (CheckRow.id, CheckRow.component, CheckRow.region, CheckRow.location,
                 CheckRow.started_at, CheckRow.received_at, CheckRow.ok, CheckRow.degraded,
                 CheckRow.interval_s)


def checks_received_since(session: Session, received_from: datetime | None,
                          started_from: datetime) -> list[SeenCheck]:
    """Checks started at or after `started_from` (and received at or after `received_from`).

    `rolled_up IN (false, true)` lets both databases read the (rolled_up, started_at) index
    as two short ranges instead of every stored check: there is no index on `started_at` or
    `received_at` alone.
    """
    query = (select(*_SEEN_COLUMNS)
             .where(CheckRow.rolled_up.in_([False, True]), CheckRow.started_at >= started_from))
    if received_from is not None:
        query = query.where(CheckRow.received_at >= received_from)
    return _seen(session.execute(query))


def checks_of_pairs(session: Session, horizons: Mapping[tuple[str, str], datetime],
                    chunk: int = 200) -> list[SeenCheck]:
    """Each pair's checks started at or after its horizon (the evaluator's first read)."""
    by_horizon: dict[datetime, list[tuple[str, str]]] = defaultdict(list)
    for pair, horizon in horizons.items():
        by_horizon[horizon].append(pair)
    found: list[SeenCheck] = []
    for horizon, pairs in by_horizon.items():
        for start in range(0, len(pairs), chunk):
            found += _seen(session.execute(
                select(*_SEEN_COLUMNS).where(
                    tuple_(CheckRow.component, CheckRow.region).in_(pairs[start:start + chunk]),
                    CheckRow.started_at >= horizon)))
    return found


def recent_checks(session: Session, component: str, region: str, limit: int = 20,
                  ) -> list[CheckRow]:
    return list(session.scalars(
        select(CheckRow).where(CheckRow.component == component, CheckRow.region == region)
        .order_by(CheckRow.started_at.desc()).limit(limit)))


# --- rollups --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Claimed:
    """Unrolled checks of one (component, region): their ids and the minutes they touch."""

    ids: list[str]
    first: datetime
    last: datetime
    max_interval_s: int


def claim_unrolled(session: Session, horizon: datetime, limit: int,
                   ) -> dict[tuple[str, str], Claimed]:
    """Take up to `limit` checks not yet rolled up; on PostgreSQL other workers skip them."""
    query = (select(CheckRow.id, CheckRow.component, CheckRow.region, CheckRow.started_at,
                    CheckRow.interval_s)
             .where(CheckRow.rolled_up.is_(False), CheckRow.started_at < horizon)
             .order_by(CheckRow.started_at).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    groups: dict[tuple[str, str], Claimed] = {}
    for check_id, component, region, at, interval in session.execute(query):
        key = (component, region)
        known = groups.get(key)
        if known is None:
            groups[key] = Claimed([check_id], at, at, interval)
            continue
        known.ids.append(check_id)
        groups[key] = Claimed(known.ids, min(known.first, at), max(known.last, at),
                              max(known.max_interval_s, interval))
    return groups


def lock_series(session: Session, component: str, region: str) -> None:
    """One worker at a time rewrites a series' rollups (SQLite has one writer anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                        {"key": f"rollup:{component}:{region}"})


def series_checks(session: Session, component: str, region: str, start: datetime,
                  end: datetime) -> dict[str, list[RawCheck]]:
    """Every check of a (component, region) in [start, end), per location."""
    rows = session.execute(
        select(CheckRow.location, CheckRow.started_at, CheckRow.ok, CheckRow.degraded,
               CheckRow.latency_ms)
        .where(CheckRow.component == component, CheckRow.region == region,
               CheckRow.started_at >= start, CheckRow.started_at < end))
    series: dict[str, list[RawCheck]] = defaultdict(list)
    for location, at, ok, degraded, latency in rows:
        micros = int(at.timestamp()) * 1_000_000 + at.microsecond
        series[location].append(RawCheck(micros, ok, degraded, latency))
    return series


def replace_rollups(session: Session, component: str, region: str, first_minute: int,
                    last_minute: int, per_location: Sequence[LocationMinuteRollup],
                    combined: Sequence[ComponentMinuteRollup]) -> None:
    """Rewrite the rollups of minutes [first, last]: recomputing is how rollups stay right."""
    for model in (LocationMinute, ComponentMinute):
        session.execute(delete(model).where(
            model.component == component, model.region == region,
            model.minute >= first_minute, model.minute <= last_minute))
    if per_location:
        session.execute(insert(LocationMinute), [
            {"component": component, "region": region, "location": r.location,
             "minute": r.minute, "checks": r.checks, "failures": r.failures,
             "degraded": r.degraded, "latency_p50_ms": r.latency.p50_ms,
             "latency_p95_ms": r.latency.p95_ms, "latency_max_ms": r.latency.max_ms,
             "status": r.status.value} for r in per_location])
    if combined:
        session.execute(insert(ComponentMinute), [
            {"component": component, "region": region, "minute": r.minute, "checks": r.checks,
             "failures": r.failures, "degraded": r.degraded, "locations": r.locations,
             "locations_down": r.locations_down, "latency_p50_ms": r.latency.p50_ms,
             "latency_p95_ms": r.latency.p95_ms, "latency_max_ms": r.latency.max_ms,
             "verdict": r.verdict.value} for r in combined])
    recount_rollup_days(session, component, region, first_minute, last_minute)


def recount_rollup_days(session: Session, component: str, region: str, first_minute: int,
                        last_minute: int) -> None:
    """Recount the day summaries of every UTC day [first, last] touches, from its rollups.

    Recounting the whole day, rather than adding what changed, keeps a summary exact
    whatever rewrote its minutes (late data, a second pass, rollups written another way).
    It reads no row that is plainly up: an index-only count of the day's minutes, and the
    notable rollups (every down, single-location, maintenance and no-data one) through
    their partial index.
    """
    first_day, last_day = first_minute // DAY_MINUTES, last_minute // DAY_MINUTES
    rollup = ComponentMinute
    in_days = (rollup.component == component, rollup.region == region,
               rollup.minute >= first_day * DAY_MINUTES,
               rollup.minute < (last_day + 1) * DAY_MINUTES)
    day = (rollup.minute // DAY_MINUTES).label("day")
    # day → [minutes, down, single location (not maintenance), maintenance, no data]
    days = {number: [minutes, 0, 0, 0, 0] for number, minutes in session.execute(
        select(day, func.count()).where(*in_days).group_by(day))}
    for minute, verdict, locations in session.execute(
            select(rollup.minute, rollup.verdict, rollup.locations)
            .where(*in_days, text(f"({NOTABLE_ROLLUPS})"))):
        counts = days[minute // DAY_MINUTES]
        counts[1] += verdict == "down"
        counts[2] += locations == 1 and verdict != "maintenance"
        counts[3] += verdict == "maintenance"
        counts[4] += verdict == "no_data"
    session.execute(delete(ComponentDay).where(
        ComponentDay.component == component, ComponentDay.region == region,
        ComponentDay.day >= first_day, ComponentDay.day <= last_day))
    if days:
        session.execute(insert(ComponentDay), [
            {"component": component, "region": region, "day": number, "minutes": minutes,
             "down_minutes": down, "single_location_minutes": single,
             "maintenance_minutes": maintenance, "no_data_minutes": no_data}
            for number, (minutes, down, single, maintenance, no_data) in days.items()])


def mark_rolled_up(session: Session, ids: Sequence[str]) -> None:
    for start in range(0, len(ids), 500):
        session.execute(update(CheckRow).where(CheckRow.id.in_(ids[start:start + 500]))
                        .values(rolled_up=True))


def component_minutes(session: Session, component: str, region: str, first_minute: int,
                      last_minute: int) -> list[ComponentMinute]:
    """Minute rollups of a (component, region) in [first, last], in order."""
    return list(session.scalars(
        select(ComponentMinute).where(
            ComponentMinute.component == component, ComponentMinute.region == region,
            ComponentMinute.minute >= first_minute, ComponentMinute.minute <= last_minute)
        .order_by(ComponentMinute.minute)))


def prune_checks(session: Session, before: datetime, limit: int | None = None) -> int:
    """Delete raw checks older than `before`, but never one that is not rolled up yet; at
    most `limit` of them (the oldest), so a caller can commit between batches."""
    doomed = (CheckRow.started_at < before, CheckRow.rolled_up.is_(True))
    if limit is None:
        result = session.execute(delete(CheckRow).where(*doomed))
    else:
        oldest = (select(CheckRow.id).where(*doomed).order_by(CheckRow.started_at)
                  .limit(limit).scalar_subquery())
        result = session.execute(delete(CheckRow).where(CheckRow.id.in_(oldest)))
    return int(getattr(result, "rowcount", 0) or 0)


# --- live state -----------------------------------------------------------------------------

def state_pairs(session: Session) -> list[tuple[str, str]]:
    """Every (component, region) with a stored live state."""
    return [(c, r) for c, r in session.execute(
        select(ComponentState.component, ComponentState.region))]


def states(session: Session) -> dict[tuple[str, str], ComponentState]:
    return {(row.component, row.region): row for row in session.scalars(select(ComponentState))}


def record_state(session: Session, component: str, region: str, evaluation: Evaluation,
                 now: datetime, known: ComponentState | None) -> bool:
    """Store the evaluated state; a change is also written to the history. True on change.

    A pass that finds what is stored writes nothing (`evaluated_at` is when the stored
    evaluation, state or reason, last changed): evaluation runs every second over every
    pair, and an UPDATE per pair per pass held SQLite's write lock for nothing.
    """
    if known is None:
        known = ComponentState(component=component, region=region,
                               state=State.OPERATIONAL.value, since=now, reason="",
                               evaluated_at=now)
        session.add(known)
    changed = known.state != evaluation.state.value
    if changed:
        session.add(StateChange(component=component, region=region, from_state=known.state,
                                to_state=evaluation.state.value, at=now,
                                reason=evaluation.reason[:500]))
        known.state, known.since = evaluation.state.value, now
    reason = evaluation.reason[:500]
    if changed or known.reason != reason:
        known.reason, known.evaluated_at = reason, now
    return changed


def state_marker(session: Session) -> tuple[int, int | None, datetime | None]:
    """Changes whenever a live state or its reason does: how many pairs have one, the
    newest state change, the newest stored evaluation (cheap: the change history's primary
    key and a scan of one row per pair)."""
    count, newest = session.execute(
        select(func.count(), func.max(ComponentState.evaluated_at))).one()
    last_change = session.scalar(select(func.max(StateChange.id)))
    return int(count), last_change, newest


def state_times(session: Session) -> dict[tuple[str, str], tuple[datetime, datetime]]:
    """(created_at, last change) of every measured pair: created when Bellwether first
    recorded it (its first rolled-up minute or state change, or its state's start when it
    never changed), changed when its live state last did. Each is an index lookup."""
    first_minute = (select(func.min(ComponentMinute.minute))
                    .where(ComponentMinute.component == ComponentState.component,
                           ComponentMinute.region == ComponentState.region)
                    .scalar_subquery())
    first_change = (select(func.min(StateChange.at))
                    .where(StateChange.component == ComponentState.component,
                           StateChange.region == ComponentState.region)
                    .scalar_subquery())
    times = {}
    for component, region, since, minute, changed in session.execute(
            select(ComponentState.component, ComponentState.region, ComponentState.since,
                   first_minute, first_change)):
        known = [since]
        if minute is not None:
            known.append(datetime.fromtimestamp(int(minute) * 60, UTC))
        if changed is not None:
            known.append(changed)
        times[(component, region)] = (min(known), since)
    return times


def agents(session: Session) -> list[Agent]:
    """Every remote agent that ever sent a heartbeat (the ingest views record them)."""
    return list(session.scalars(select(Agent).order_by(Agent.name)))


def mark_agent_silent(session: Session, name: str, since: datetime | None,
                      seen_last: datetime, seen_silent_since: datetime | None) -> bool:
    """Set (or clear, with None) when an agent went silent, its page's identity, if the row
    still reads as seen (a heartbeat, a stop, may have come since); whether it did."""
    was = (Agent.silent_since.is_(None) if seen_silent_since is None
           else Agent.silent_since == seen_silent_since)
    result = session.execute(update(Agent).where(Agent.name == name,
                                                 Agent.last_seen_at == seen_last, was)
                             .values(silent_since=since))
    return int(getattr(result, "rowcount", 0) or 0) == 1


def no_data_changes(session: Session, region: str, components: Iterable[str],
                    limit: int = 2_000) -> list[GapChange]:
    """The newest entries into and exits from `no_data` of a region's `components`, newest
    first: what a gap episode's start is read from (`probes.silence.episode_start`)."""
    nodata = State.NO_DATA.value
    rows = session.execute(
        select(StateChange.component, StateChange.at, StateChange.to_state)
        .where(StateChange.region == region, StateChange.component.in_(list(components)),
               (StateChange.to_state == nodata) | (StateChange.from_state == nodata))
        .order_by(StateChange.at.desc(), StateChange.id.desc()).limit(limit))
    return [GapChange(component, at, to_state == nodata) for component, at, to_state in rows]


def paged(session: Session, dedup_keys: Iterable[str]) -> set[str]:
    """Which of these dedup_keys had a trigger enqueued: the outbox is the record of what
    was paged (record before send), so a gap's resolve follows only a trigger."""
    keys = {f"pd:{key}:trigger": key for key in dedup_keys}
    if not keys:
        return set()
    return {keys[k] for k in alerts_store.enqueued(session, keys)}


def catalogue_version(session: Session) -> str:
    """A short digest of every probe's name, switch and last change: agents refetch the
    catalogue when the heartbeat's answer carries a new one."""
    rows = session.execute(select(Probe.name, Probe.enabled, Probe.updated_at)
                           .order_by(Probe.name))
    digest = hashlib.sha256()
    for name, enabled, updated_at in rows:
        digest.update(f"{name}|{enabled}|{updated_at.isoformat()}\n".encode())
    return digest.hexdigest()[:16]


def state_history(session: Session, component: str | None = None, region: str | None = None,
                  since: datetime | None = None, limit: int = 500) -> list[StateChange]:
    query = select(StateChange).order_by(StateChange.at.desc(), StateChange.id.desc())
    if component:
        query = query.where(StateChange.component == component)
    if region:
        query = query.where(StateChange.region == region)
    if since:
        query = query.where(StateChange.at >= since)
    return list(session.scalars(query.limit(limit)))


def oldest_unrolled(session: Session) -> datetime | None:
    return session.scalar(select(func.min(CheckRow.started_at))
                          .where(CheckRow.rolled_up.is_(False)))


@dataclass(frozen=True, slots=True)
class ClaimedChange:
    component: str
    region: str
    from_state: str
    to_state: str
    at: datetime


def has_unhandled_state_changes(session: Session) -> bool:
    """Whether any state change waits for the incident job (a cheap read, no lock)."""
    return session.scalar(select(StateChange.id).where(StateChange.handled.is_(False))
                          .limit(1)) is not None


def claim_state_changes(session: Session, limit: int = 5_000) -> list[ClaimedChange]:
    """Take unhandled state changes and mark them handled in the caller's transaction (the
    incident job's input). Other workers skip locked rows (PostgreSQL) and the conditional
    update keeps a row from being taken twice."""
    query = (select(StateChange.id).where(StateChange.handled.is_(False))
             .order_by(StateChange.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(session.scalars(query))
    if not ids:
        return []
    taken = session.execute(
        update(StateChange).where(StateChange.id.in_(ids), StateChange.handled.is_(False))
        .values(handled=True)
        .returning(StateChange.component, StateChange.region, StateChange.from_state,
                   StateChange.to_state, StateChange.at))
    changes = [ClaimedChange(*row) for row in taken]
    return sorted(changes, key=lambda c: (c.at, c.component, c.region))


def verdict_counts(session: Session, component: str, region: str, first_minute: int,
                   last_minute: int) -> dict[str, int]:
    """How many rolled-up minutes of [first, last] had each verdict (absent: no_data)."""
    rows = session.execute(
        select(ComponentMinute.verdict, func.count())
        .where(ComponentMinute.component == component, ComponentMinute.region == region,
               ComponentMinute.minute >= first_minute, ComponentMinute.minute <= last_minute)
        .group_by(ComponentMinute.verdict))
    counts = {"up": 0, "down": 0}
    counts.update({verdict: int(n) for verdict, n in rows})
    counts["no_data"] = (last_minute - first_minute + 1) - sum(counts.values())
    return counts


def last_rolled_minute(session: Session, component: str, region: str) -> int | None:
    return session.scalar(select(func.max(ComponentMinute.minute)).where(
        ComponentMinute.component == component, ComponentMinute.region == region))


# --- agents' heartbeats and TLS certificates ----------------------------------------------

def record_heartbeat(session: Session, heartbeat: Heartbeat, address: str,
                     now: datetime) -> None:
    """The agent was heard from now: one upsert of its row, whatever it sent.

    `silent_since` is left to the silence job, which sets it and tells a return by
    `last_seen_at` passing it; except that a `stopping` heartbeat marks the agent stopped
    (`silent_since` = `last_seen_at`, `probes.heartbeats`) and any later word clears that.
    """
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    seen: dict[str, Any] = {"location": heartbeat.location, "version": heartbeat.version,
                            "address": address[:100], "last_seen_at": now}
    if heartbeat.stopping:
        seen["silent_since"] = now
    else:
        seen["silent_since"] = case((Agent.silent_since == Agent.last_seen_at, None),
                                    else_=Agent.silent_since)
    statement = dialect.insert(Agent).values(
        name=heartbeat.name, first_seen_at=now,
        **{**seen, "silent_since": now if heartbeat.stopping else None})
    session.execute(statement.on_conflict_do_update(index_elements=[Agent.name], set_=seen))


# --- re-check requests relayed between agents (probes.relay) --------------------------------

#: At most this many requests in one answer: a wide outage asks for many pairs at once, and
#: the ones left out are checked at their own slots.
RELAYED_AT_MOST = 1000


def previous_outcomes(session: Session, firsts: Mapping[Job, CheckResult]) -> dict[Job, bool]:
    """Whether each job's latest check stored before `firsts[job]` passed (a job with none
    is left out): one look a job, down the (component, region, started_at) index."""
    outcomes = {}
    for (probe, location), first in firsts.items():
        ok = session.scalar(
            select(CheckRow.ok)
            .where(CheckRow.component == first.component, CheckRow.region == first.region,
                   CheckRow.started_at < first.started_at, CheckRow.probe == probe,
                   CheckRow.location == location)
            .order_by(CheckRow.started_at.desc()).limit(1))
        if ok is not None:
            outcomes[(probe, location)] = ok
    return outcomes


def record_rechecks(session: Session, requests: Sequence[RecheckRequest],
                    now: datetime) -> None:
    """Store new requests (once each, however often their batch comes) and drop the expired
    ones; nothing is written when there are none, the usual case."""
    if not requests:
        return
    session.execute(delete(RecheckRow).where(RecheckRow.expires_at <= now))
    session.execute(_insert_ignoring_duplicates(session, RecheckRow), [
        {"id": r.id, "component": r.component, "region": r.region, "location": r.location,
         "requested_at": now, "expires_at": r.expires_at} for r in requests])


def pending_rechecks(session: Session, location: str, now: datetime,
                     limit: int = RELAYED_AT_MOST) -> list[RecheckRequest]:
    """The live requests that locations other than `location` asked for, newest first."""
    rows = session.scalars(
        select(RecheckRow)
        .where(RecheckRow.expires_at > now, RecheckRow.location != location)
        .order_by(RecheckRow.requested_at.desc(), RecheckRow.id).limit(limit))
    return [RecheckRequest(row.id, row.component, row.region, row.location, row.expires_at)
            for row in rows]


def tls_probes(session: Session) -> list[TlsProbe]:
    """Every enabled probe of kind `tls`, by name (read from the stored definitions)."""
    rows = session.execute(select(Probe.name, Probe.component, Probe.region, Probe.spec)
                           .where(Probe.enabled.is_(True)).order_by(Probe.name))
    return [TlsProbe(name, component, region, str(spec.get("target") or ""),
                     int(spec.get("interval_s") or 30))
            for name, component, region, spec in rows if spec.get("kind") == "tls"]


def tls_readings(session: Session, probe: TlsProbe, since: datetime, limit: int = 20,
                 ) -> list[Reading]:
    """The certificates a TLS probe's newest checks since `since` saw, newest first
    (checks that saw none, failed ones, are left out)."""
    rows = session.execute(
        select(CheckRow.started_at, CheckRow.location, CheckRow.figures)
        .where(CheckRow.component == probe.component, CheckRow.region == probe.region,
               CheckRow.probe == probe.name, CheckRow.started_at > since)
        .order_by(CheckRow.started_at.desc()).limit(limit))
    readings = (reading_from_check(probe.name, at, location, figures or {})
                for at, location, figures in rows)
    return [reading for reading in readings if reading is not None]
