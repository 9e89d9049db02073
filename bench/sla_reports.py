"""Benchmark SLA reports from minute rollups, on SQLite and PostgreSQL.

Run: `.venv/bin/python bench/sla_reports.py [--backend sqlite|postgresql|both]
[--part year|scale|both] [--pg-url URL] [--regions N] [--year-days N] [--runs N] [--keep]`.

Two databases per backend, each made by the migrations in a scratch place, the rollups loaded
at revision 0005 (before the day summaries and the partial index on notable rollups) and
then upgraded to head, as an existing database would be (the upgrade is timed):

- **year**: a year (`--year-days` 365: 2025-11-01 … 2026-10-31) of minute rollups for the
  default catalogue (8 services × 3 regions = 24 pairs, 12.6 million rows), plus October's
  raw checks of one region (8 pairs × 3 locations × 2 a minute = 2.1 million rows) made to
  agree with its rollups. It times one customer's month report (24 lines), every pair's
  month, the public 90-day bars of every pair, one pass of the burn-rate evaluation, and
  recomputing the region's month from the raw checks beside the same lines from the rollups.
- **scale**: 1,000 pairs (10 components × `--regions` 100) for October 2026 (44.6 million
  rows). It times one customer's month report (3 regions, 30 lines) and every pair's month.

Rollups are inserted in time order (every pair's minute, then the next minute), the order
the rollup job writes them in, with executemany (SQLite, on a loading connection with a
large page cache that is closed before measuring) or COPY (PostgreSQL). Each figure is the
median of `--runs` runs after one warm-up run (the every-pair month of the scale run and
the raw recompute: one run, no warm-up); times come from `time.perf_counter`.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from commerce.catalog import SERVICES  # noqa: E402
from core import migrate  # noqa: E402
from core.config import DEFAULT_REGIONS  # noqa: E402
from core.db import make_engine, make_session_factory  # noqa: E402
from probes import store as probe_store  # noqa: E402
from reports.budgets import budget_statuses  # noqa: E402
from reports.daily import daily_uptime  # noqa: E402
from reports.monthly import CustomerInfo, customer_report, month_lines  # noqa: E402
from sla.catalog import PREMIUM  # noqa: E402
from sla.collect import MonthCollector  # noqa: E402
from sla.model import PeriodBasis  # noqa: E402
from sla.period import micros_of, minute_start, month_period  # noqa: E402
from sla.report import build_report  # noqa: E402

MONTH = "2026-10"
YEAR_END = datetime(2026, 11, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
EXTRA_COMPONENTS = ("inventory", "payments")
LOCATIONS = ("loc-a", "loc-b", "loc-c")
#: The last revision before the day summaries and the partial index: data is loaded there.
BEFORE_SUMMARIES = "0005"
Pair = tuple[str, str]


@dataclass(frozen=True)
class Result:
    label: str
    runs: list[float]
    note: str = ""

    def line(self) -> str:
        median = statistics.median(self.runs)
        return (f"| {self.label} | {median * 1000:,.1f} ms | {min(self.runs) * 1000:,.1f} – "
                f"{max(self.runs) * 1000:,.1f} ms | {self.note} |")


def timed(label: str, runs: int, work: Callable[[], Any], note: str = "",
          warm_up: bool = True) -> Result:
    if warm_up:
        work()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    result = Result(label, times, note)
    print(result.line(), flush=True)
    return result


# --- data ------------------------------------------------------------------------------------


def exceptions_for(pairs: Sequence[Pair], first: int, minutes: int, seed: int,
                   ) -> list[dict[int, tuple[str, int] | None]]:
    """Per pair: minute → (verdict, locations), or None for a minute without data.

    0.02 % random down minutes, a 40-minute outage on the 5th of each month's pair index,
    1 % single-location minutes, 0.3 % minutes without data; everything else is up from 3.
    """
    rng = random.Random(seed)
    special: list[dict[int, tuple[str, int] | None]] = []
    for index, _ in enumerate(pairs):
        marks: dict[int, tuple[str, int] | None] = {}
        for _ in range(int(minutes * 0.0002)):
            marks[first + rng.randrange(minutes)] = ("down", 3)
        for _ in range(int(minutes * 0.01)):
            marks[first + rng.randrange(minutes)] = ("up", 1)
        for _ in range(int(minutes * 0.003)):
            marks[first + rng.randrange(minutes)] = None
        outage = first + minutes - 27 * 1440 + (index % 24) * 60
        for minute in range(outage, outage + 40):
            marks[minute] = ("down", 3)
        special.append(marks)
    return special


def rollup_rows(pairs: Sequence[Pair], first: int, minutes: int, seed: int,
                ) -> Iterator[tuple[str, str, int, str, int]]:
    """(component, region, minute, verdict, locations) in time order, pair by pair."""
    special = exceptions_for(pairs, first, minutes, seed)
    up = ("up", 3)
    for minute in range(first, first + minutes):
        for (component, region), marks in zip(pairs, special, strict=True):
            mark = marks.get(minute, up)
            if mark is not None:
                yield component, region, minute, mark[0], mark[1]


def loading_pragmas(raw: Any) -> None:
    """A 1 GiB page cache for the bulk load only: `upgrade_loaded` closes this connection,
    so every measurement runs with the application's own settings."""
    raw.execute("PRAGMA cache_size = -1000000")


def load_rollups(engine: Engine, rows: Iterator[tuple[str, str, int, str, int]]) -> int:
    """Bulk-insert rollups: executemany on SQLite, COPY on PostgreSQL; how many rows."""
    count = 0
    with engine.begin() as conn:
        raw: Any = conn.connection.driver_connection
        if engine.dialect.name == "sqlite":
            loading_pragmas(raw)

            def full() -> Iterator[tuple[Any, ...]]:
                nonlocal count
                for c, r, m, verdict, n in rows:
                    count += 1
                    yield (c, r, m, 2 * n, 2 * n if verdict == "down" else 0, 0, n,
                           n if verdict == "down" else 0, 40.0, 80.0, 95.0, verdict)
            raw.cursor().executemany(
                "INSERT INTO rollup_minutes (component, region, minute, checks, failures, "
                "degraded, locations, locations_down, latency_p50_ms, latency_p95_ms, "
                "latency_max_ms, verdict) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", full())
            return count
        with raw.cursor().copy(
                "COPY rollup_minutes (component, region, minute, checks, failures, degraded, "
                "locations, locations_down, latency_p50_ms, latency_p95_ms, latency_max_ms, "
                "verdict) FROM STDIN") as copy:
            block: list[str] = []
            for c, r, m, verdict, n in rows:
                down = n if verdict == "down" else 0
                block.append(f"{c}\t{r}\t{m}\t{2 * n}\t{2 * down}\t0\t{n}\t{down}\t40.0\t80.0"
                             f"\t95.0\t{verdict}\n")
                if len(block) >= 50_000:
                    copy.write("".join(block))
                    count += len(block)
                    block = []
            copy.write("".join(block))
            count += len(block)
    return count


def load_raw_checks(engine: Engine, rows: Iterator[tuple[str, str, str, datetime, bool]],
                    ) -> int:
    count = 0
    received = NOW.strftime("%Y-%m-%d %H:%M:%S")
    with engine.begin() as conn:
        raw: Any = conn.connection.driver_connection
        if engine.dialect.name == "sqlite":
            loading_pragmas(raw)

            def full() -> Iterator[tuple[Any, ...]]:
                nonlocal count
                for c, r, loc, at, ok in rows:
                    count += 1
                    stamp = at.strftime("%Y-%m-%d %H:%M:%S.%f")
                    yield (uuid.uuid4().hex, f"{c}.{r}", c, r, loc, stamp, stamp, ok, 0,
                           40.0 if ok else 5000.0, 30, "{}", "{}", 1, received)
            raw.cursor().executemany(
                "INSERT INTO probe_checks (id, probe, component, region, location, "
                "intended_at, started_at, ok, degraded, latency_ms, interval_s, timings, "
                "figures, rolled_up, received_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                full())
            return count
        with raw.cursor().copy(
                "COPY probe_checks (id, probe, component, region, location, intended_at, "
                "started_at, ok, degraded, latency_ms, interval_s, timings, figures, rolled_up,"
                " received_at) FROM STDIN") as copy:
            block: list[str] = []
            for c, r, loc, at, ok in rows:
                stamp = at.strftime("%Y-%m-%d %H:%M:%S+00")
                block.append(f"{uuid.uuid4().hex}\t{c}.{r}\t{c}\t{r}\t{loc}\t{stamp}\t{stamp}"
                             f"\t{'t' if ok else 'f'}\tf\t{40.0 if ok else 5000.0}\t30\t{{}}"
                             f"\t{{}}\tt\t{received}+00\n")
                if len(block) >= 50_000:
                    copy.write("".join(block))
                    count += len(block)
                    block = []
            copy.write("".join(block))
            count += len(block)
    return count


# --- databases -------------------------------------------------------------------------------


@dataclass
class Database:
    url: str
    engine: Engine
    drop: Callable[[], None]


def new_database(backend: str, label: str, scratch: Path, pg_url: str) -> Database:
    if backend == "sqlite":
        url = f"sqlite:///{scratch / f'{label}.sqlite'}"
        migrate.upgrade(url, BEFORE_SUMMARIES)
        return Database(url, make_engine(url), lambda: None)
    name = f"bench_{label}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(url, BEFORE_SUMMARIES)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return Database(url, make_engine(url), drop)


def settle(db: Database) -> None:
    """What autovacuum / a DBA would have done after a bulk load: statistics (and, on
    PostgreSQL, the visibility map that index-only scans need)."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE rollup_minutes"))
            conn.execute(text("VACUUM ANALYZE rollup_days"))
            conn.execute(text("VACUUM ANALYZE probe_checks"))
    else:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))


def size_of(db: Database) -> str:
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as conn:
            size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar()
    else:
        size = os.path.getsize(make_url(db.url).database or "")
    return f"{(size or 0) / 2**30:.2f} GiB"


def upgrade_loaded(db: Database) -> float:
    """Upgrade the loaded database to head (backfilling the day summaries, building the
    partial index), then settle it; how long the upgrade took."""
    db.engine.dispose()  # closes the loading connection and its page cache
    started = time.perf_counter()
    migrate.upgrade(db.url)
    took = time.perf_counter() - started
    settle(db)
    return took


# --- measurements ----------------------------------------------------------------------------


def customer(regions: Sequence[str]) -> CustomerInfo:
    return CustomerInfo(1, "Bench shop", "premium", PeriodBasis.CALENDAR, None, 1_000_000,
                        tuple((f"shop-{i}", r) for i, r in enumerate(regions)))


def recompute_from_raw(db: Database, pairs: Sequence[Pair]) -> list[Any]:
    period = month_period(MONTH)
    collector = MonthCollector(period, confirmations=2)
    with make_session_factory(db.engine)() as session:
        for component, region in pairs:
            series = probe_store.series_checks(session, component, region,
                                               period.start - timedelta(minutes=5),
                                               period.end + timedelta(minutes=5))
            for location, checks in series.items():
                for check in checks:
                    collector.add((component, region, location), check.at_micros, check.ok)
    return list(build_report(collector, PREMIUM, []).lines)


def from_rollups(db: Database, pairs: Sequence[Pair]) -> list[Any]:
    with make_session_factory(db.engine)() as session:
        return month_lines(session, sorted(pairs), month_period(MONTH), PREMIUM)


def measure_year(db: Database, runs: int) -> None:
    factory = make_session_factory(db.engine)
    pairs = [(c, r) for c in SERVICES for r in DEFAULT_REGIONS]
    region_pairs = sorted((c, DEFAULT_REGIONS[0]) for c in SERVICES)
    shop = customer(DEFAULT_REGIONS)

    def report() -> None:
        with factory() as session:
            assert len(customer_report(session, shop, MONTH, NOW).lines) == 24

    def every_pair() -> None:
        with factory() as session:
            month_lines(session, pairs, month_period(MONTH), PREMIUM)

    def bars() -> None:
        with factory() as session:
            for component, region in pairs:
                daily_uptime(session, component, region, date(2026, 8, 3), 90, NOW)

    def budgets() -> None:
        with factory() as session:
            budget_statuses(session, DEFAULT_REGIONS, NOW)

    timed("one customer's month report (3 regions, 24 lines)", runs, report, "target < 200 ms")
    timed("every pair's month (24 lines)", runs, every_pair)
    timed("90-day daily uptime of every pair (24 × 90 days)", runs, bars)
    timed("30-day budgets and burn rates of every pair", runs, budgets)
    timed(f"one region's month from rollups ({len(region_pairs)} lines)", runs,
          lambda: from_rollups(db, region_pairs))


def measure_raw(db: Database) -> None:
    """Recompute one region's month from its raw checks, beside the rollups' lines."""
    region_pairs = sorted((c, DEFAULT_REGIONS[0]) for c in SERVICES)
    assert recompute_from_raw(db, region_pairs) == from_rollups(db, region_pairs), \
        "raw and rollup lines differ"
    timed(f"the same from raw checks ({len(region_pairs)} lines, 2.1 M checks)", 1,
          lambda: recompute_from_raw(db, region_pairs), "same lines, asserted; one run",
          warm_up=False)


def measure_scale(db: Database, regions: Sequence[str], runs: int) -> None:
    factory = make_session_factory(db.engine)
    components = (*SERVICES, *EXTRA_COMPONENTS)
    pairs = [(c, r) for c in components for r in regions]
    shop = customer(regions[:3])

    def report() -> None:
        with factory() as session:
            assert len(customer_report(session, shop, MONTH, NOW).lines) == 10 * len(
                shop.regions)

    def every_pair() -> None:
        with factory() as session:
            assert len(month_lines(session, pairs, month_period(MONTH), PREMIUM)) == len(pairs)

    timed(f"one customer's month report ({len(shop.regions)} regions, "
          f"{10 * len(shop.regions)} lines)", runs, report,
          "target < 200 ms")
    timed(f"every pair's month ({len(pairs)} lines)", 1, every_pair,
          "target < 5 s; one run, no warm-up", warm_up=False)


TABLE_HEAD = "| measurement | median | range | note |\n| --- | --- | --- | --- |"


def run_year(backend: str, args: argparse.Namespace, scratch: Path) -> None:
    year = new_database(backend, "year", scratch, args.pg_url)
    try:
        pairs = [(c, r) for c in SERVICES for r in DEFAULT_REGIONS]
        first = micros_of(YEAR_END) // 60_000_000 - args.year_days * 1440
        started = time.perf_counter()
        rows = load_rollups(year.engine, rollup_rows(pairs, first, args.year_days * 1440,
                                                     seed=1))
        loaded = time.perf_counter() - started
        region_pairs = [(c, DEFAULT_REGIONS[0]) for c in SERVICES]
        started = time.perf_counter()
        checks = load_raw_checks(year.engine, raw_check_rows(region_pairs, pairs, first,
                                                             args.year_days))
        raw_loaded = time.perf_counter() - started
        upgraded = upgrade_loaded(year)
        print(f"year: {rows:,} rollups in {loaded:.0f} s, {checks:,} raw checks in "
              f"{raw_loaded:.0f} s; upgrade to head (day summaries, partial index) "
              f"{upgraded:.0f} s; database {size_of(year)}\n", flush=True)
        print(TABLE_HEAD)
        measure_year(year, args.runs)
        measure_raw(year)
    finally:
        year.engine.dispose()
        if not args.keep:
            year.drop()


def run_scale(backend: str, args: argparse.Namespace, scratch: Path) -> None:
    scale = new_database(backend, "scale", scratch, args.pg_url)
    try:
        regions = [f"region-{i:03d}.bench" for i in range(args.regions)]
        pairs = [(c, r) for c in (*SERVICES, *EXTRA_COMPONENTS) for r in regions]
        period = month_period(MONTH)
        started = time.perf_counter()
        rows = load_rollups(scale.engine, rollup_rows(pairs, period.first_minute,
                                                      period.minutes, seed=2))
        loaded = time.perf_counter() - started
        upgraded = upgrade_loaded(scale)
        print(f"\nscale: {len(pairs):,} pairs, {rows:,} rollups in {loaded:.0f} s; upgrade to "
              f"head {upgraded:.0f} s; database {size_of(scale)}\n", flush=True)
        print(TABLE_HEAD)
        measure_scale(scale, regions, args.runs)
    finally:
        scale.engine.dispose()
        if not args.keep:
            scale.drop()


def run_backend(backend: str, args: argparse.Namespace, scratch: Path) -> None:
    print(f"\n## {backend}\n", flush=True)
    if args.part in ("year", "both"):
        run_year(backend, args, scratch)
    if args.part in ("scale", "both"):
        run_scale(backend, args, scratch)


def raw_check_rows(region_pairs: Sequence[Pair], pairs: Sequence[Pair], first: int, days: int,
                   ) -> Iterator[tuple[str, str, str, datetime, bool]]:
    """October's raw checks of `region_pairs`, rolling up to exactly their rollups (the
    year's exceptions, drawn per pair in `pairs` order): 2 a minute per location; a down
    minute fails at two of three locations; a single-location minute has only loc-a."""
    special = exceptions_for(pairs, first, days * 1440, seed=1)
    period = month_period(MONTH)
    wanted = [(pair, special[pairs.index(pair)]) for pair in region_pairs]
    for minute in range(period.first_minute, period.end_minute):
        start = minute_start(minute)
        for (component, region), marks in wanted:
            mark = marks.get(minute, ("up", 3))
            if mark is None:
                continue
            verdict, reporting = mark
            for index, location in enumerate(LOCATIONS[:reporting]):
                ok = not (verdict == "down" and index < 2)
                for second in (0, 30):
                    yield component, region, location, start + timedelta(seconds=second), ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--part", choices=("year", "scale", "both"), default="both",
                        help="which database to build and measure")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
                        help="a PostgreSQL server to create the benchmark databases on")
    parser.add_argument("--regions", type=int, default=100,
                        help="regions of the scale run (10 components each)")
    parser.add_argument("--year-days", type=int, default=365,
                        help="days of rollups in the year run, ending with October 2026")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    args = parser.parse_args()
    print(f"# SLA reports from rollups — {platform.node()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    with tempfile.TemporaryDirectory(prefix="bench-sla-reports-") as scratch:
        for backend in backends:
            run_backend(backend, args, Path(scratch))


if __name__ == "__main__":
    main()
