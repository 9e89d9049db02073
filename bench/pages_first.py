"""Pages first: time from an incident's commit to its PagerDuty trigger at a stand-in, with
10,000 email and 1,000 webhook subscribers (100 of them hanging) notified for the same
incident.

Run: `.venv/bin/python bench/pages_first.py [--rounds 5] [--backends sqlite,postgresql]
[--pg-server URL] [--emails 10000] [--webhooks 1000] [--hanging 100]`.

For each backend, on a fresh database (a temporary SQLite file; on the PostgreSQL server a
new database, dropped afterwards) migrated to head:

1. Setup, not timed: confirmed subscribers of europe-west1.gcp (whole region): first the
   hanging webhooks (so they are the first notices in id order, the worst place for them),
   then the emails, then the answering webhooks. Receivers, each in a process of its own
   (spawn): aiosmtpd for email and a cheroot app answering 204 (both from bench/fanout.py),
   a socket that accepts connections and never answers (until the round ends), and the
   PagerDuty Events API stand-in of the tests (tests/support/pagerduty.py, over TLS with a
   self-signed certificate), which notes the time.perf_counter (CLOCK_MONOTONIC, shared by
   every process) at which each event arrived.
2. Each round: the outbox emptied and the subscribers' failure tallies reset; a dispatcher
   process started with the alerts package's job table scheduled as `bellwether worker` and
   `up` do (`core.scheduler.build_scheduler(alerts.jobs.JOBS, ...)`: `alerts.pages` every
   0.25 s, `alerts.dispatch` every 1 s; the other packages' jobs are left out so that
   nothing else pages). Then, in this process, an incident opens in one transaction as the
   incident path writes it, notices before the trigger: the incident with its first
   update, `announce()` (every subscriber's notice) and `status.store.page(..., "trigger",
   ...)`. Case "idle": the first incident of the round. Case "busy": once the notices pass
   holds 8 calls to the hanging receiver (it cannot end before their 10 s timeout), a
   second incident opens the same way, its rows behind the first one's whole backlog.
   Measured for each: from the moment the commit is issued (so the commit itself is
   counted) to the stand-in receiving the trigger. Also
   noted when the trigger arrived: emails and answering webhooks received since the round
   began, calls the hanging receiver took, notices still undelivered. Then the dispatcher
   process is stopped (the scheduler shuts down waiting for its passes, as on SIGTERM) and
   that stop is timed.

Nothing here asserts; target: median ≤ 2 s on each backend.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import queue
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, delete, func, insert, select, text, update
from sqlalchemy.engine import make_url

from bench._common import HOST, free_port, say, wait_for_port

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REGION = "europe-west1.gcp"
ROUTING_KEY = "PAGESFIRSTBENCH0123456789abcdef0"
SECRET_PREFIX = "bench-secret-"  # the webhook sink of bench/fanout.py checks these
TARGET_S = 2.0
#: "idle": the incident opens on a dispatcher with nothing to do; "busy": a second incident
#: opens while the first one's notices pass holds calls to the hanging receiver.
CASES = ("idle", "busy")
PAGE_TIMEOUT_S = 120.0


# --- receivers (spawned processes) ------------------------------------------------------------

def pagerduty_stand_in(port: int, cert: str, key: str, arrivals: Any, ready: Any,
                       stop: Any) -> None:
    """The tests' Events API stand-in on `port`; (dedup_key, action, perf_counter) of every
    accepted event goes to `arrivals`."""
    from http.server import BaseHTTPRequestHandler

    from tests.support.pagerduty import EventsApiStandIn

    class Timed(EventsApiStandIn):
        def _accept(self, handler: BaseHTTPRequestHandler, event: dict[str, Any]) -> None:
            at = time.perf_counter()
            super()._accept(handler, event)
            arrivals.put((str(event.get("dedup_key", "")), str(event["event_action"]), at))

    server = Timed(Path(cert), Path(key))
    server.port = port
    server.start()
    ready.set()
    stop.wait()
    server.stop()


def hanging_sink(port: int, held: Any, release: Any, stop: Any) -> None:
    """Accepts connections and never answers; `release` closes the ones held."""
    listener = socket.create_server((HOST, port), backlog=512)
    listener.settimeout(0.05)
    conns: list[socket.socket] = []
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
            conns.append(conn)
            held.value += 1
        except TimeoutError:
            pass
        if release.is_set():
            for conn in conns:
                conn.close()
            conns.clear()
            release.clear()
    for conn in conns:
        conn.close()
    listener.close()


@dataclass
class Receivers:
    """The receivers' processes and what they share with us."""

    smtp_port: int
    hook_port: int
    hang_port: int
    pd_port: int
    emails: Any
    hooks: Any
    held: Any
    release: Any
    arrivals: Any
    ca_bundle: str


@contextmanager
def receivers(tmp: Path) -> Iterator[Receivers]:
    from bench.fanout import smtp_sink, webhook_sink
    from tests.support.tls import self_signed

    ctx = multiprocessing.get_context("spawn")
    cert, key = self_signed(tmp)
    stop = ctx.Event()
    ports = [free_port() for _ in range(4)]
    counters = [ctx.Value("q", 0, lock=False) for _ in range(7)]
    last = [ctx.Value("d", 0.0, lock=False) for _ in range(2)]
    got = Receivers(smtp_port=ports[0], hook_port=ports[1], hang_port=ports[2],
                    pd_port=ports[3], emails=counters[0], hooks=counters[1], held=counters[2],
                    release=ctx.Event(), arrivals=ctx.Queue(), ca_bundle=str(cert))
    pd_ready = ctx.Event()
    processes = [
        ctx.Process(target=smtp_sink, args=(ports[0], counters[0], counters[3], last[0], stop),
                    daemon=True),
        ctx.Process(target=webhook_sink, args=(ports[1], counters[1], counters[4], last[1],
                                               stop, counters[5]), daemon=True),
        ctx.Process(target=hanging_sink, args=(ports[2], counters[2], got.release, stop),
                    daemon=True),
        ctx.Process(target=pagerduty_stand_in, args=(ports[3], str(cert), str(key),
                                                     got.arrivals, pd_ready, stop),
                    daemon=True),
    ]
    for process in processes:
        process.start()
    try:
        for port in ports[:3]:
            wait_for_port(port, timeout=60)
        if not pd_ready.wait(60):
            raise RuntimeError("the PagerDuty stand-in did not start")
        yield got
    finally:
        stop.set()
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join(10)


# --- the dispatcher process -------------------------------------------------------------------

def bench_settings(url: str, got: Receivers) -> Any:
    from core.config import Settings

    return replace(Settings(), database_url=url, secret_key="bench-secret",
                   smtp_url=f"smtp://{HOST}:{got.smtp_port}", public_url="http://status.bench",
                   pagerduty_events_url=f"https://{HOST}:{got.pd_port}",
                   pagerduty_ca_bundle=got.ca_bundle,
                   pagerduty_routing_key_tier1=ROUTING_KEY,
                   pagerduty_routing_key_tier2=ROUTING_KEY,
                   extra={"allow_private_webhooks": True})


def dispatcher_process(settings: Any, ready: Any, stop: Any, stopped_s: Any) -> None:
    """The alerts jobs in an APScheduler, as `bellwether worker` schedules them, until
    `stop`; then a shutdown that waits for the running passes (timed)."""
    from alerts.jobs import JOBS
    from core.clock import SystemClock
    from core.db import import_models, make_engine, make_session_factory
    from core.scheduler import JobContext, build_scheduler

    import_models()
    engine = make_engine(settings.database_url)
    scheduler = build_scheduler(JOBS, JobContext(settings, SystemClock(),
                                                 make_session_factory(engine)))
    scheduler.start()
    ready.set()
    stop.wait()
    began = time.perf_counter()
    scheduler.shutdown(wait=True)
    stopped_s.value = time.perf_counter() - began
    engine.dispose()


# --- setup and one round (this process) ---------------------------------------------------

def new_database(backend: str, tmp: Path, pg_server: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp / f'pages-first-{uuid.uuid4().hex[:8]}.sqlite'}"
    name = f"bw_bench_pages_first_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(pg_server).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str, pg_server: str) -> None:
    if url.startswith("sqlite"):
        return
    admin = create_engine(pg_server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    finally:
        admin.dispose()


def seed(url: str, got: Receivers, emails: int, webhooks: int, hanging: int) -> None:
    """Hanging webhooks first (ids 1..hanging), then emails, then answering webhooks."""
    from core import migrate
    from status.models import Subscriber, SubscriberScope

    migrate.upgrade(url)
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for n in range(1, emails + webhooks + 1):
        if n <= hanging:
            kind, address = "webhook", f"http://{HOST}:{got.hang_port}/hook/{n}"
        elif n <= hanging + emails:
            kind, address = "email", f"sub{n:05d}@bench.test"
        else:
            kind, address = "webhook", f"http://{HOST}:{got.hook_port}/hook/{n}"
        rows.append({"id": n, "kind": kind, "address": address, "created_at": now,
                     "confirmed_at": now, "consecutive_failures": 0,
                     "secret": f"{SECRET_PREFIX}{n}" if kind == "webhook" else None})
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(Subscriber), rows)
            conn.execute(insert(SubscriberScope), [
                {"subscriber_id": r["id"], "region": REGION, "component": ""} for r in rows])
    finally:
        engine.dispose()


def reset(url: str) -> None:
    """An empty outbox and clean tallies: each round starts from the same state."""
    from alerts.models import OutboxRow
    from status.models import Subscriber

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(delete(OutboxRow))
            conn.execute(update(Subscriber).values(consecutive_failures=0, disabled_at=None,
                                                   last_error=None))
    finally:
        engine.dispose()


def open_incident(factory: Any, settings: Any) -> tuple[int, int, float, float, float]:
    """One transaction as the incident path writes it, notices before the trigger:
    (incident id, rows enqueued, seconds to write and commit, seconds the commit took,
    perf_counter when the commit was issued)."""
    from core.clock import SystemClock
    from status import store
    from status.announce import announce, incident_event
    from status.models import Incident, IncidentComponent, IncidentUpdate

    clock = SystemClock()
    began = time.perf_counter()
    now = clock.now()
    session = factory()
    try:
        incident = Incident(title="Orders failing", impact="major", status="investigating",
                            origin="declared", opened_at=now, updated_at=now,
                            first_failure_at=now)
        incident.components.append(IncidentComponent(component="orders", region=REGION,
                                                     state="major_outage",
                                                     first_affected_at=now))
        first = IncidentUpdate(status="investigating", body="We are looking into it.",
                               created_at=now)
        incident.updates.append(first)
        session.add(incident)
        session.flush()
        count = announce(session, incident_event(incident, first,
                                                 settings.effective_public_url),
                         settings, clock)
        count += store.page(session, incident, "trigger", first.id, settings, now)
        incident_id = incident.id
        session.flush()
        committing = time.perf_counter()
        session.commit()
        committed = time.perf_counter()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    return incident_id, count, committed - began, committed - committing, committing


def undelivered_notices(engine: Any) -> int:
    from alerts.models import OutboxRow

    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(OutboxRow).where(
            OutboxRow.channel != "pagerduty",
            OutboxRow.status.in_(("pending", "sending")))) or 0)


def wait_for_trigger(got: Receivers, incident_id: int) -> float:
    """The perf_counter at which the stand-in received the incident's trigger (nan: never,
    within PAGE_TIMEOUT_S)."""
    wanted = f"bellwether-incident-{incident_id}"
    deadline = time.perf_counter() + PAGE_TIMEOUT_S
    while time.perf_counter() < deadline:
        try:
            key, action, at = got.arrivals.get(timeout=0.05)
        except queue.Empty:
            continue
        if key == wanted and action == "trigger":
            return float(at)
    return float("nan")


def counters(got: Receivers) -> tuple[int, int, int]:
    return got.emails.value, got.hooks.value, got.held.value


def timed_incident(engine: Any, settings: Any, got: Receivers,
                   start: tuple[int, int, int]) -> dict[str, Any]:
    """Open an incident, wait for its trigger; what the receivers had got by then since
    the round's `start`."""
    from core.db import make_session_factory

    emails0, hooks0, held0 = start
    incident_id, enqueued, write_s, commit_s, committing = open_incident(
        make_session_factory(engine), settings)
    arrived = wait_for_trigger(got, incident_id)
    return {"incident": incident_id, "enqueued": enqueued, "write_s": write_s,
            "commit_s": commit_s, "page_s": arrived - committing,
            "emails": got.emails.value - emails0,
            "hooks": got.hooks.value - hooks0, "held": got.held.value - held0,
            "undelivered": undelivered_notices(engine)}


def one_round(url: str, settings: Any, got: Receivers, hanging: int) -> dict[str, Any]:
    """A first incident on an idle dispatcher; once its notices pass holds hanging calls,
    a second incident (its notices and trigger behind the first one's backlog)."""
    from core.db import make_engine

    reset(url)
    got.release.set()  # drop whatever the hanging receiver still held
    while not got.arrivals.empty():
        got.arrivals.get_nowait()
    ctx = multiprocessing.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    stopped_s = ctx.Value("d", float("nan"), lock=False)
    worker = ctx.Process(target=dispatcher_process, args=(settings, ready, stop, stopped_s),
                         daemon=True)
    worker.start()
    engine = make_engine(url)
    try:
        if not ready.wait(60):
            raise RuntimeError("the dispatcher process did not start")
        start = counters(got)
        first = timed_incident(engine, settings, got, start)
        deadline = time.perf_counter() + 60
        while got.held.value - start[2] < min(8, hanging) and time.perf_counter() < deadline:
            time.sleep(0.02)
        second = timed_incident(engine, settings, got, start)
    finally:
        stop.set()
        worker.join(120)
        if worker.is_alive():
            worker.kill()
            worker.join(10)
        engine.dispose()
    return {"idle": first, "busy": second, "stop_s": stopped_s.value}


def measure(backend: str, args: argparse.Namespace, tmp: Path,
            got: Receivers) -> list[dict[str, Any]]:
    url = new_database(backend, tmp, args.pg_server)
    try:
        seeding = time.perf_counter()
        seed(url, got, args.emails, args.webhooks, args.hanging)
        say(f"{backend}: {args.emails:,} email and {args.webhooks:,} webhook subscribers "
            f"({args.hanging} hanging) seeded in {time.perf_counter() - seeding:.1f} s")
        settings = bench_settings(url, got)
        results = []
        for number in range(1, args.rounds + 1):
            result = one_round(url, settings, got, args.hanging)
            results.append(result)
            for case in CASES:
                r = result[case]
                say(f"  round {number}, {case}: trigger after {r['page_s']:.3f} s "
                    f"(write+commit {r['write_s']:.2f} s, of it commit {r['commit_s']:.3f} s, "
                    f"{r['enqueued']:,} rows); by then, "
                    f"since the round began, {r['emails']:,} emails and {r['hooks']:,} "
                    f"webhooks received, {r['held']} calls hanging, "
                    f"{r['undelivered']:,} notices undelivered")
            say(f"  round {number}: dispatcher stopped in {result['stop_s']:.1f} s")
        return results
    finally:
        drop_database(url, args.pg_server)


def _median(values: list[float]) -> float:
    finite = [v for v in values if v == v]
    return statistics.median(finite) if len(finite) == len(values) and values else float("nan")


def report(results: dict[str, list[dict[str, Any]]]) -> None:
    say("\n| backend | case | rounds: commit issued → trigger at the stand-in, s | median s "
        "| target | write + commit s (median) | by the page, since the round began (median): "
        "emails / webhooks received, calls hanging; notices undelivered "
        "| dispatcher stop s (max) |")
    say("|---|---|---|---|---|---|---|---|")
    for backend, rounds in results.items():
        for case in CASES:
            runs = [r[case] for r in rounds]
            pages = [r["page_s"] for r in runs]
            median = _median(pages)
            met = "met" if median <= TARGET_S else "MISSED"

            def mid(name: str, runs: list[dict[str, Any]] = runs) -> int:
                return int(statistics.median(r[name] for r in runs))

            say(f"| {backend} | {case} | {', '.join(f'{p:.3f}' for p in pages)} "
                f"| **{median:.3f}** | ≤ {TARGET_S:g} s: {met} "
                f"| {statistics.median(r['write_s'] for r in runs):.2f} "
                f"| {mid('emails'):,} / {mid('hooks'):,}, {mid('held')}; "
                f"{mid('undelivered'):,} | {max(r['stop_s'] for r in rounds):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-server", default=PG_SERVER)
    parser.add_argument("--emails", type=int, default=10_000)
    parser.add_argument("--webhooks", type=int, default=1_000)
    parser.add_argument("--hanging", type=int, default=100)
    args = parser.parse_args()
    if not (1 <= args.rounds <= 50 and 0 <= args.emails <= 100_000
            and 0 <= args.hanging <= args.webhooks <= 20_000):
        sys.exit("out of bounds: --rounds 1..50, --emails ≤ 100,000, "
                 "--hanging ≤ --webhooks ≤ 20,000")
    backends = [b for b in args.backends.split(",") if b]
    load = " ".join(Path("/proc/loadavg").read_text(encoding="ascii").split()[:3])
    say(f"pages first: {args.emails:,} emails, {args.webhooks:,} webhooks ({args.hanging} "
        f"hanging), {args.rounds} rounds per backend; {os.cpu_count()} CPUs; load {load}")
    results: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="bw-bench-pages-first-") as tmp, \
            receivers(Path(tmp)) as got:
        for backend in backends:
            results[backend] = measure(backend, args, Path(tmp), got)
    report(results)


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
