"""Ingest and rollup rate: `probes.store.save_checks` batches, `probes.jobs.roll_up_minutes`.

Run: `.venv/bin/python bench/ingest_rollup.py [--checks 200000] [--batch 1000]
[--backends sqlite,postgresql] [--pg-server URL]`.

For each backend it makes a fresh database (a temporary SQLite file; on the PostgreSQL
server a new database, dropped afterwards), migrates it to head with `core.migrate.upgrade`,
then:

1. ingest: synthetic checks of 30 (component, region) pairs × 3 locations at 30 s intervals,
   about 0.5 % failing, in time order, stored `--batch` at a time, each batch in its own
   transaction like `probes.writer.DatabaseWriter.flush`: results/s over the whole ingest;
2. rollup: `roll_up_minutes` passes (20,000 checks each) until none is left: checks/s;
3. the current `save_checks` against a suggested path (`save_checks_core` on SQLite,
   `save_checks_by_copy` on PostgreSQL), alternately, each into an emptied table; on
   PostgreSQL also the current one with the table ANALYZEd every 20 batches (outside the
   timing: the statistics autovacuum would have in steady state, which a fresh table in a
   short bench never gets), and the plans picked after the ingest for the count query and
   the UPDATE.

Where the time goes: SQL time per statement (SQLAlchemy cursor events, so the database's
own time plus the driver's), commit time, and, for the rollup, time per store function
(the bench wraps `probes.store` functions and `probes.jobs.roll_up` with timers). The
checks' times lie in the past so that the rollup's settle horizon covers them all. Nothing
here is a test; nothing asserts.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bench._common import exit_on_sigterm, say
from core import migrate
from core.clock import SystemClock
from core.config import Settings
from core.db import make_engine, make_session_factory
from core.scheduler import JobContext
from probes import jobs as probe_jobs
from probes import store
from probes.checks import CheckResult
from probes.models import CheckRow, ComponentMinute

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TARGET_PG_RESULTS_PER_S = 20_000.0
COMPONENTS = ("auth", "products", "carts", "orders", "search", "messages", "audit-log",
              "import", "inventory", "payments")
REGIONS = ("europe-west1.gcp", "us-central1.gcp", "australia-southeast1.gcp")
LOCATIONS = ("loc-a", "loc-b", "loc-c")
INTERVAL_S = 30
F = TypeVar("F", bound=Callable[..., Any])


# --- synthetic checks -----------------------------------------------------------------------

def synthetic_batches(total: int, batch: int, end: datetime, seed: int = 11,
                      ) -> Iterator[list[CheckResult]]:
    """`total` checks ending before `end`, in time order, `batch` at a time.

    The same arguments give the same checks, ids included (a batch sent again is a repeat).
    """
    rng = random.Random(seed)
    series = [(c, r, loc) for c in COMPONENTS for r in REGIONS for loc in LOCATIONS]
    slots = -(-total // len(series))
    first = end - timedelta(seconds=slots * INTERVAL_S + 60)
    pending: list[CheckResult] = []
    made = 0
    for slot in range(slots):
        intended = first + timedelta(seconds=slot * INTERVAL_S)
        for component, region, location in series:
            if made == total:
                break
            ok = rng.random() > 0.005
            latency = 40 + rng.random() * 80 if ok else 5000.0
            started = intended + timedelta(milliseconds=rng.randrange(1, 40))
            pending.append(CheckResult(
                probe=f"{component}.{region}", component=component, region=region,
                location=location, intended_at=intended, started_at=started, ok=ok,
                latency_ms=latency, interval_s=INTERVAL_S, degraded=ok and latency > 110,
                status_code=200 if ok else 503, error=None if ok else "GET /: status 503",
                timings={"connect_ms": 0.4, "tls_ms": 0.0, "first_byte_ms": latency - 1,
                         "total_ms": latency}, id=f"{rng.getrandbits(128):032x}"))
            made += 1
            if len(pending) == batch:
                yield pending
                pending = []
    if pending:
        yield pending


# --- timing ---------------------------------------------------------------------------------

@dataclass
class Timers:
    """Seconds spent, by label."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, label: str, seconds: float) -> None:
        self.seconds[label] += seconds
        self.calls[label] += 1

    def lines(self, total: float) -> list[str]:
        return [f"| {label} | {self.calls[label]:,} | {secs:.2f} | {secs / total * 100:.0f} % |"
                for label, secs in sorted(self.seconds.items(), key=lambda kv: -kv[1])]


def statement_label(statement: str) -> str:
    words = statement.split()
    verb = words[0].upper() if words else "?"
    if verb == "SELECT" and "pg_advisory_xact_lock" in statement:
        return "SELECT pg_advisory_xact_lock"
    for marker in ("FROM", "INTO", "UPDATE"):
        if marker in (w.upper() for w in words[1:]) or verb == marker:
            index = next((i for i, w in enumerate(words) if w.upper() == marker), 0)
            table = words[index + 1] if index + 1 < len(words) else "?"
            return f"{verb} {table.strip('()')}"
    return verb


def time_statements(engine: Engine, timers: Timers) -> None:
    """Add every statement's cursor time to `timers`, labelled "VERB table"."""

    def before(_conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any,
               _many: bool) -> None:
        context._bench_began = time.perf_counter()

    def after(_conn: Any, _cursor: Any, statement: str, _params: Any, context: Any,
              _many: bool) -> None:
        timers.add("SQL " + statement_label(statement),
                   time.perf_counter() - context._bench_began)

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    engine._bench_listeners = [  # type: ignore[attr-defined]
        ("before_cursor_execute", before), ("after_cursor_execute", after)]


def timed(timers: Timers, label: str, function: F) -> F:
    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            timers.add(label, time.perf_counter() - began)

    return wrapper  # type: ignore[return-value]


# --- the two phases -------------------------------------------------------------------------

@dataclass
class Phase:
    items: int
    seconds: float
    sql: Timers
    steps: Timers

    @property
    def rate(self) -> float:
        return self.items / self.seconds


SaveChecks = Callable[[Session, Sequence[CheckResult], datetime], int]


def ingest(engine: Engine, total: int, batch: int, end: datetime,
           save: SaveChecks = store.save_checks, analyze_every: int = 0) -> Phase:
    """Store `total` checks `batch` at a time, a transaction per batch, as the writer does.

    `analyze_every` N batches runs ANALYZE on the table first, outside the timing: what
    autovacuum does for a table in steady state, and never within a short bench.
    """
    factory = make_session_factory(engine)
    sql, steps = Timers(), Timers()
    now = SystemClock().now()
    stored = 0
    elapsed = 0.0
    for number, checks in enumerate(synthetic_batches(total, batch, end)):
        if analyze_every and number % analyze_every == analyze_every - 1:
            with engine.begin() as conn:
                conn.execute(text("ANALYZE probe_checks"))
        if number == 0:
            time_statements(engine, sql)
        began = time.perf_counter()  # the checks are made before the clock starts
        session = factory()
        try:
            stored += save(session, checks, now)
            saved = time.perf_counter()
            session.commit()
        finally:
            session.close()
        done = time.perf_counter()
        steps.add("save_checks", saved - began)
        steps.add("commit", done - saved)
        elapsed += done - began
    remove_timers(engine)
    outside = steps.seconds["save_checks"] - sum(
        secs for label, secs in sql.seconds.items() if label != "SQL ANALYZE")
    steps.seconds["(in save_checks, outside SQL cursors)"] = outside
    steps.calls["(in save_checks, outside SQL cursors)"] = steps.calls["save_checks"]
    if stored != total:
        say(f"  warning: {stored} of {total} checks reported as new")
    return Phase(stored, elapsed, sql, steps)


COPY_COLUMNS = ("id", "probe", "component", "region", "location", "intended_at", "started_at",
                "ok", "degraded", "latency_ms", "interval_s", "status_code", "error", "warning",
                "timings", "figures", "rolled_up", "received_at")


def save_checks_by_copy(session: Session, checks: Sequence[CheckResult], now: datetime,
                        ) -> int:
    """The suggested PostgreSQL path of `store.save_checks`, measured beside the current one.

    COPY the batch into a temporary table (emptied at commit), then one
    `INSERT … SELECT … ON CONFLICT (id) DO NOTHING`, whose row count is the number of new
    checks: no count query before, no row-by-row INSERTs, no ORM bulk path.
    """
    if not checks:
        return 0
    columns = ", ".join(COPY_COLUMNS)
    driver = session.connection().connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS probe_checks_in "
                       "(LIKE probe_checks INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
        with cursor.copy(f"COPY probe_checks_in ({columns}) FROM STDIN") as copy:
            for c in checks:
                copy.write_row((c.id, c.probe, c.component, c.region, c.location,
                                c.intended_at, c.started_at, c.ok, c.degraded, c.latency_ms,
                                c.interval_s, c.status_code, c.error, c.warning,
                                json.dumps(dict(c.timings)), json.dumps(dict(c.figures)),
                                False, now))
        cursor.execute(f"INSERT INTO probe_checks ({columns}) SELECT {columns} "
                       "FROM probe_checks_in ON CONFLICT (id) DO NOTHING")
        return int(cursor.rowcount)


def remove_timers(engine: Engine) -> None:
    for name, listener in getattr(engine, "_bench_listeners", []):
        event.remove(engine, name, listener)
    engine._bench_listeners = []  # type: ignore[attr-defined]


def rollup(engine: Engine, settings: Settings) -> Phase:
    factory = make_session_factory(engine)
    sql, steps = Timers(), Timers()
    time_statements(engine, sql)
    ctx = JobContext(settings, SystemClock(), factory)
    originals = {name: getattr(store, name) for name in
                 ("claim_unrolled", "lock_series", "series_checks", "replace_rollups",
                  "mark_rolled_up")}
    original_roll_up = getattr(probe_jobs, "roll_up")  # noqa: B009 (not re-exported)
    for name, function in originals.items():
        setattr(store, name, timed(steps, f"store.{name}", function))
    wrapped = timed(steps, "rollup.roll_up (pure)", original_roll_up)
    setattr(probe_jobs, "roll_up", wrapped)  # noqa: B010
    rolled = 0
    began = time.perf_counter()
    try:
        while True:
            done = probe_jobs.roll_up_minutes(ctx)
            if not done:
                break
            rolled += done
    finally:
        for name, function in originals.items():
            setattr(store, name, function)
        setattr(probe_jobs, "roll_up", original_roll_up)  # noqa: B010
        remove_timers(engine)
    return Phase(rolled, time.perf_counter() - began, sql, steps)


# --- databases ------------------------------------------------------------------------------

def create_pg_database(server_url: str) -> str:
    name = f"bw_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(server_url: str, url: str) -> None:
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" '
                              "WITH (FORCE)"))
    finally:
        admin.dispose()


def bench_backend(url: str, total: int, batch: int) -> tuple[Phase, Phase]:
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        end = SystemClock().now().replace(second=0, microsecond=0, tzinfo=UTC)
        stored = ingest(engine, total, batch, end)
        if url.startswith("postgresql"):
            for line in pg_plans(engine):
                say(line)
        rolled = rollup(engine, Settings())
        with engine.connect() as conn:
            left = conn.scalar(select(func.count()).select_from(CheckRow)
                               .where(CheckRow.rolled_up.is_(False)))
            minutes = conn.scalar(select(func.count()).select_from(ComponentMinute))
        say(f"  {left} checks left unrolled, {minutes:,} component-minutes written")
        return stored, rolled
    finally:
        engine.dispose()


def save_checks_core(session: Session, checks: Sequence[CheckResult], now: datetime) -> int:
    """The suggested SQLite path of `store.save_checks`, measured beside the current one.

    The same rows through a Core executemany on the session's connection (not the ORM bulk
    path), and the driver's row count instead of a count query before: sqlite3 sums the rows
    each execution inserted, and ON CONFLICT DO NOTHING inserts none for a known id.
    """
    if not checks:
        return 0
    rows = [{"id": c.id, "probe": c.probe, "component": c.component, "region": c.region,
             "location": c.location, "intended_at": c.intended_at, "started_at": c.started_at,
             "ok": c.ok, "degraded": c.degraded, "latency_ms": c.latency_ms,
             "interval_s": c.interval_s, "status_code": c.status_code, "error": c.error,
             "warning": c.warning, "timings": dict(c.timings), "figures": dict(c.figures),
             "rolled_up": False, "received_at": now} for c in checks]
    insert = sqlite.insert(CheckRow).on_conflict_do_nothing()
    result = session.connection().execute(insert, rows)
    return int(result.rowcount)


SUGGESTED: dict[str, tuple[str, SaveChecks]] = {
    "sqlite": ("Core executemany + row count (suggested)", save_checks_core),
    "postgresql": ("COPY + INSERT … SELECT (suggested)", save_checks_by_copy),
}


def compare_saves(url: str, backend: str, total: int, batch: int, rounds: int,
                  ) -> list[tuple[str, float]]:
    """Current `save_checks` and the suggested path, alternately, each into an emptied table
    (also checking that a batch sent again is counted as 0 new)."""
    engine = make_engine(url)
    rates: list[tuple[str, float]] = []
    empty = "DELETE FROM probe_checks" if backend == "sqlite" else "TRUNCATE probe_checks"
    try:
        end = SystemClock().now().replace(second=0, microsecond=0, tzinfo=UTC)
        for _ in range(rounds):
            variants = [("store.save_checks (current)", store.save_checks, 0),
                        (*SUGGESTED[backend], 0)]
            if backend == "postgresql":
                variants.insert(1, ("store.save_checks (current), ANALYZE every 20 batches",
                                    store.save_checks, 20))
            for name, save, analyze_every in variants:
                with engine.begin() as conn:
                    conn.execute(text(empty))
                rates.append((name, ingest(engine, total, batch, end, save,
                                           analyze_every).rate))
                again = next(synthetic_batches(batch, batch, end))  # the first batch again
                with make_session_factory(engine)() as session, session.begin():
                    if save(session, again, SystemClock().now()) != 0:
                        say(f"  warning: {name} counted a repeated batch as new")
    finally:
        engine.dispose()
    return rates


def pg_plans(engine: Engine) -> list[str]:
    """The plans PostgreSQL picks now for save_checks' count and mark_rolled_up's UPDATE."""
    with engine.connect() as conn:
        ids = list(conn.scalars(select(CheckRow.id).limit(1000)))
        count = conn.execute(text("EXPLAIN SELECT count(*) FROM probe_checks "
                                  "WHERE id = ANY(:ids)"), {"ids": ids}).scalars().all()
        update = conn.execute(text("EXPLAIN UPDATE probe_checks SET rolled_up = true "
                                   "WHERE id = ANY(:ids)"), {"ids": ids[:500]}).scalars().all()
        stats = conn.execute(text("SELECT reltuples FROM pg_class "
                                  "WHERE relname = 'probe_checks'")).scalar()
    return [f"  plans after ingest (pg_class.reltuples {stats:g}): count of 1,000 ids → "
            f"{_node(count)}; UPDATE of 500 ids → {_node(update)}"]


def _node(plan: Sequence[str]) -> str:
    scans = [line.strip().removeprefix("->").strip() for line in plan if "Scan" in line]
    return (scans[0] if scans else plan[0]).split("  (")[0]


def report(name: str, phase: Phase, label: str) -> None:
    say(f"\n{name} {label}: {phase.items:,} in {phase.seconds:.2f} s = "
        f"**{phase.rate:,.0f}/s**\n")
    say("| where | calls | seconds | share |")
    say("|---|---|---|---|")
    for line in phase.steps.lines(phase.seconds) + phase.sql.lines(phase.seconds):
        say(line)


def main() -> None:
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checks", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-server", default=PG_SERVER,
                        help="a PostgreSQL server URL; a fresh database is made on it")
    parser.add_argument("--compare-rounds", type=int, default=2,
                        help="rounds of current vs suggested save_checks (0: none)")
    parser.add_argument("--compare-checks", type=int, default=50_000)
    args = parser.parse_args()
    summary: list[str] = []
    for backend in args.backends.split(","):
        say(f"{backend}: {args.checks:,} checks, batches of {args.batch:,}")
        comparison: list[tuple[str, float]] = []
        if backend == "sqlite":
            with tempfile.TemporaryDirectory(prefix="bw-bench-") as tmp:
                url = f"sqlite:///{tmp}/bench.sqlite"
                stored, rolled = bench_backend(url, args.checks, args.batch)
                if args.compare_rounds:
                    comparison = compare_saves(url, backend, args.compare_checks, args.batch,
                                               args.compare_rounds)
        else:
            url = create_pg_database(args.pg_server)
            try:
                stored, rolled = bench_backend(url, args.checks, args.batch)
                if args.compare_rounds:
                    comparison = compare_saves(url, backend, args.compare_checks, args.batch,
                                               args.compare_rounds)
            finally:
                drop_pg_database(args.pg_server, url)
        report(backend, stored, "ingest (save_checks + commit)")
        report(backend, rolled, "rollup (roll_up_minutes)")
        if comparison:
            say(f"\n{backend} ingest, current vs suggested, {args.compare_checks:,} checks "
                f"each into an emptied table, {args.compare_rounds} round(s) alternating:\n")
            say("| save | results/s per round | median |")
            say("|---|---|---|")
            for name in dict.fromkeys(name for name, _ in comparison):
                rates = [rate for n, rate in comparison if n == name]
                say(f"| {name} | {', '.join(f'{r:,.0f}' for r in rates)} "
                    f"| {statistics.median(rates):,.0f} |")
        summary.append(f"| {backend} | {stored.rate:,.0f} | {rolled.rate:,.0f} |")
    say("\n| backend | ingest results/s | rollup checks/s |")
    say("|---|---|---|")
    for line in summary:
        say(line)
    say(f"\nTarget ≥ {TARGET_PG_RESULTS_PER_S:,.0f} results/s on PostgreSQL.")


if __name__ == "__main__":
    main()
