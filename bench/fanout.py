"""Notification fan-out: one incident announced to 10,000 email and 1,000 webhook subscribers.

Run: `.venv/bin/python bench/fanout.py [--emails 10000] [--webhooks 1000]
[--backends sqlite,postgresql] [--pg-server URL] [--dispatchers 1] [--no-what-if]
[--no-costs] [--profile]`.

For each backend and channel, on a fresh database (a temporary SQLite file; on the
PostgreSQL server a new database, dropped afterwards) migrated to head:

1. Setup, not timed (this process): N confirmed subscribers of europe-west1.gcp (whole
   region), emails `subNNNNN@bench.test`, or webhooks `http://127.0.0.1:PORT/hook/N`, each
   with its own signing secret.
2. Measured, in a child process of its own (so its ru_maxrss is the fan-out's alone):
   a receiver in a further process (multiprocessing, spawn) — aiosmtpd for email, a
   cheroot WSGI app answering 204 with 32 threads for webhooks, which checks every
   signature; then an incident with its first update is written and `announce()`d in one
   transaction (`status.announce.announce`, `incident_event`), and the outbox is delivered
   until the receiver has every message: variant "as-is" calls `alerts.jobs.dispatch_once`
   in a loop, back to back (`--dispatchers K`: K such loops in threads, each with its own
   JobContext parts, hence its own Dispatcher and worker name); variant "scheduled" runs
   the job table as `bellwether up` does (APScheduler, `alerts.dispatch` every 1 s). Times:
   announce (enqueue and commit), and from announce's start to the last message the
   receiver got (its time.perf_counter, CLOCK_MONOTONIC, the same clock). The what-if adds
   a second dispatcher process on the first backend.
3. Where the time goes: the child times every sender call (the senders from
   `build_senders`, wrapped), every dispatch_once call, and every SQL statement (SQLAlchemy
   cursor events), and reads its own and the receiver's CPU time. `--costs` adds
   micro-measurements against the same kind of receivers: building the MIME message;
   `SmtpMailer.send` on a new connection per message against its pooled connections; a
   webhook POST with a new `httpx.Client` per call against one shared client. `--profile`
   runs each measured child under py-spy.

Nothing here asserts; targets: 10,000 emails < 60 s, 1,000 webhooks < 10 s.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, create_engine, event, func, insert, select, text
from sqlalchemy.engine import make_url

from bench._common import HOST, PYTHON, free_port, percentile, process_cpu_seconds, say
from bench._common import wait_for_port as wait_for_listener
from bench._status_common import find_py_spy, py_spy_argv, summarize

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REGION = "europe-west1.gcp"
TARGETS_S = {"email": 60.0, "webhook": 10.0}
SINK_THREADS = 32
SECRET_PREFIX = "bench-secret-"
PROFILE_GROUPS = (
    ("SMTP sender (smtplib, MIME)", ("alerts/senders/email.py",)),
    ("webhook sender (httpx)", ("alerts/senders/webhook.py",)),
    ("dispatcher bookkeeping (claim, attempt, outcome: SQL)", ("alerts/dispatch.py",)),
    ("announce (audience, render, enqueue)", ("status/announce.py",)),
)


# --- receivers (spawned processes) ------------------------------------------------------------

def smtp_sink(port: int, received: Any, distinct: Any, last_at: Any, stop: Any) -> None:
    """aiosmtpd on 127.0.0.1:port; counts messages and distinct recipients."""
    from aiosmtpd.controller import Controller

    seen: set[str] = set()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            now = time.perf_counter()
            seen.update(envelope.rcpt_tos)
            received.value += 1
            distinct.value = len(seen)
            last_at.value = now
            return "250 OK"

    controller = Controller(Handler(), hostname=HOST, port=port)
    controller.start()
    stop.wait()
    controller.stop()


def webhook_sink(port: int, received: Any, distinct: Any, last_at: Any, stop: Any,
                 verified: Any) -> None:
    """cheroot (core.servers.Listener) answering 204; checks each call's signature."""
    from alerts.senders.webhook import verify
    from core.servers import Listener

    seen: set[str] = set()
    lock = threading.Lock()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        number = environ.get("PATH_INFO", "").rsplit("/", 1)[-1]
        good = verify(f"{SECRET_PREFIX}{number}", environ.get("HTTP_X_BELLWETHER_TIMESTAMP", ""),
                      body, environ.get("HTTP_X_BELLWETHER_SIGNATURE", ""))
        now = time.perf_counter()
        with lock:
            seen.add(environ.get("HTTP_X_BELLWETHER_DELIVERY", ""))
            received.value += 1
            distinct.value = len(seen)
            verified.value += int(good)
            last_at.value = now
        start_response("204 No Content", [("Content-Length", "0")])
        return [b""]

    listener = Listener("webhook-sink", app, host=HOST, port=port, threads=SINK_THREADS)
    listener.start()
    stop.wait()
    listener.stop()


class Receiver:
    """A receiver process and the counters it shares with us."""

    def __init__(self, channel: str, port: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.port = port
        self.received = ctx.Value("q", 0, lock=False)
        self.distinct = ctx.Value("q", 0, lock=False)
        self.verified = ctx.Value("q", 0, lock=False)
        self.last_at = ctx.Value("d", 0.0, lock=False)
        self.stop_event = ctx.Event()
        shared = (port, self.received, self.distinct, self.last_at, self.stop_event)
        self.process = (ctx.Process(target=smtp_sink, args=shared, daemon=True)
                        if channel == "email" else
                        ctx.Process(target=webhook_sink, args=(*shared, self.verified),
                                    daemon=True))
        self.process.start()
        wait_for_listener(port, timeout=60)

    def cpu_seconds(self) -> float:
        pid = self.process.pid
        return process_cpu_seconds(pid) if pid is not None else float("nan")

    def stop(self) -> None:
        self.stop_event.set()
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(10)


@contextmanager
def receiver(channel: str, port: int) -> Iterator[Receiver]:
    sink = Receiver(channel, port)
    try:
        yield sink
    finally:
        sink.stop()


# --- measuring inside the child -----------------------------------------------------------

class Timings:
    """Durations collected from several threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: list[float] = []

    def add(self, seconds: float) -> None:
        with self.lock:
            self.values.append(seconds)

    def stats(self) -> dict[str, float]:
        values = self.values
        return {"count": len(values), "sum_s": sum(values),
                "p50_ms": percentile(values, 0.5) * 1000, "p99_ms": percentile(values, 0.99) * 1000,
                "mean_ms": statistics.fmean(values) * 1000 if values else float("nan")}


class TimedSender:
    """A sender that times the real one (the dispatcher sees the same protocol)."""

    def __init__(self, sender: Any, timings: Timings) -> None:
        self.sender, self.timings = sender, timings

    def send(self, delivery: Any) -> None:
        began = time.perf_counter()
        try:
            self.sender.send(delivery)
        finally:
            self.timings.add(time.perf_counter() - began)


def time_sql(engine: Engine, timings: Timings) -> None:
    local = threading.local()

    @event.listens_for(engine, "before_cursor_execute")
    def before(*_: Any) -> None:
        local.began = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def after(*_: Any) -> None:
        timings.add(time.perf_counter() - local.began)


def open_incident(factory: Any, settings: Any, clock: Any) -> tuple[int, float, float]:
    """Write an incident and announce it in one transaction, as the app does:
    (notices enqueued, seconds in announce(), seconds including the commit)."""
    from core.db import session_scope
    from status.announce import announce, incident_event
    from status.models import Incident, IncidentComponent, IncidentUpdate

    began = time.perf_counter()
    now = clock.now()
    with session_scope(factory) as session:
        incident = Incident(title="Orders failing", impact="major", status="investigating",
                            origin="auto", opened_at=now, updated_at=now)
        incident.components.append(IncidentComponent(component="orders", region=REGION,
                                                     state="major_outage",
                                                     first_affected_at=now))
        update = IncidentUpdate(status="investigating", body="We are looking into it.",
                                created_at=now)
        incident.updates.append(update)
        session.add(incident)
        session.flush()
        announcing = time.perf_counter()
        count = announce(session, incident_event(incident, update,
                                                 settings.effective_public_url),
                         settings, clock)
        announced = time.perf_counter() - announcing
    return count, announced, time.perf_counter() - began


def undelivered(engine: Engine) -> int:
    """Outbox rows still pending or sending (a retry may be due later)."""
    from alerts.models import OutboxRow

    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(OutboxRow)
                               .where(OutboxRow.status.in_(("pending", "sending")))) or 0)


VARIANTS = ("as-is", "scheduled")


def bench_settings(url: str, port: int) -> Any:
    from dataclasses import replace

    from core.config import Settings

    return replace(Settings(), database_url=url, secret_key="bench-secret",
                   smtp_url=f"smtp://{HOST}:{port}", public_url="http://status.bench",
                   extra={"allow_private_webhooks": True})


def make_senders(settings: Any, clock: Any) -> dict[str, Any]:
    """The app's senders (`build_senders`)."""
    from alerts.senders import build_senders

    return dict(build_senders(settings, clock))


def scheduled_until(ctx: Any, stop: Callable[[], bool], deadline: float) -> None:
    """The job as `bellwether up` runs it: `alerts.dispatch` in an APScheduler every 1 s."""
    from alerts.jobs import JOBS
    from core.scheduler import build_scheduler

    scheduler = build_scheduler(JOBS, ctx)
    scheduler.start()
    try:
        while time.perf_counter() < deadline and not stop():
            time.sleep(0.05)
    finally:
        scheduler.shutdown(wait=True)


def dispatch_until(ctx: Any, stop: Callable[[], bool], deadline: float,
                   calls: Timings | None = None) -> None:
    """dispatch_once in a loop, until `stop()` says so when nothing was due, or `deadline`."""
    from alerts.jobs import dispatch_once

    while time.perf_counter() < deadline:
        start = time.perf_counter()
        if dispatch_once(ctx):
            if calls is not None:
                calls.add(time.perf_counter() - start)
            continue
        if stop():
            return
        time.sleep(0.05)


def helper_process(url: str, port: int, variant: str, dispatchers: int, deadline: float,
                   stop: Any, peak: Any) -> None:
    """An extra dispatcher process (spawned): its own engine, senders and Dispatchers."""
    from core.clock import SystemClock
    from core.db import import_models, make_engine, make_session_factory
    from core.scheduler import JobContext

    import_models()
    clock = SystemClock()
    settings = bench_settings(url, port)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    senders = make_senders(settings, clock)
    threads = [threading.Thread(target=dispatch_until, args=(
        JobContext(settings, clock, factory, {"senders": senders}), stop.is_set, deadline))
        for _ in range(dispatchers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.dispose()
    peak.value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(channel: str, url: str, count: int, port: int, dispatchers: int,
              processes: int, variant: str, timeout: float) -> dict[str, Any]:
    """The measured part: announce, then dispatch until the receiver has every message."""
    from alerts.models import OutboxRow
    from core.clock import SystemClock
    from core.db import import_models, make_engine, make_session_factory
    from core.scheduler import JobContext

    import_models()  # every mapper, as the app has them (foreign keys across packages)
    clock = SystemClock()
    settings = bench_settings(url, port)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    sql, sends, calls = Timings(), Timings(), Timings()
    time_sql(engine, sql)
    real = make_senders(settings, clock)
    senders = {name: TimedSender(sender, sends) for name, sender in real.items()}
    result: dict[str, Any] = {"channel": channel, "count": count, "dispatchers": dispatchers,
                              "processes": processes, "variant": variant}
    spawn = multiprocessing.get_context("spawn")
    with receiver(channel, port) as sink:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        sink_cpu = sink.cpu_seconds()
        began = time.perf_counter()
        enqueued, announce_s, committed_s = open_incident(factory, settings, clock)
        sql_in_announce = sql.stats()["sum_s"]
        sql.values.clear()
        dispatch_began = time.perf_counter()
        deadline = began + timeout
        finished = spawn.Event()

        def all_in() -> bool:
            if finished.is_set() or sink.received.value >= enqueued or not undelivered(engine):
                finished.set()
            return finished.is_set()

        peaks = [spawn.Value("d", 0.0, lock=False) for _ in range(processes - 1)]
        helpers = [spawn.Process(target=helper_process, args=(
            url, port, variant, dispatchers, deadline, finished, peak), daemon=True)
            for peak in peaks]
        for helper in helpers:
            helper.start()
        threads = [threading.Thread(target=dispatch_until, args=(
            JobContext(settings, clock, factory, {"senders": senders}), all_in, deadline,
            calls)) for _ in range(dispatchers)]
        if variant == "scheduled":
            threads = [threading.Thread(target=scheduled_until, args=(
                JobContext(settings, clock, factory, {"senders": senders}), all_in, deadline))
                for _ in range(dispatchers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        dispatched = time.perf_counter()
        for helper in helpers:
            helper.join(30)
            if helper.is_alive():
                helper.terminate()
                helper.join(10)
        while sink.received.value < enqueued and time.perf_counter() < dispatched + 5:
            time.sleep(0.05)
        after = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        result.update(
            enqueued=enqueued, announce_s=announce_s, announce_commit_s=committed_s,
            announce_sql_s=sql_in_announce,
            to_last_s=(sink.last_at.value - began) if sink.received.value else float("nan"),
            dispatch_s=dispatched - dispatch_began,
            received=sink.received.value, distinct=sink.distinct.value,
            verified=sink.verified.value, receiver_cpu_s=sink.cpu_seconds() - sink_cpu,
            cpu_s=(after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime),
            helpers_cpu_s=children.ru_utime + children.ru_stime,
            peak_rss_mib=after.ru_maxrss / 1024,
            helper_peak_rss_mib=[peak.value for peak in peaks],
            sends=sends.stats(), calls=calls.stats(),
            sql=sql.stats(), timed_out=not finished.is_set())
    with engine.connect() as conn:
        result["statuses"] = dict(conn.execute(select(OutboxRow.status, func.count())
                                               .group_by(OutboxRow.status)).all())
    engine.dispose()
    return result


# --- micro-measurements (--costs) -------------------------------------------------------------

def costs_child(messages: int, calls: int) -> dict[str, Any]:
    """Per-message SMTP and per-call webhook costs against local receivers."""
    import httpx

    from alerts.senders import Delivery
    from alerts.senders.email import SmtpMailer
    from core.clock import SystemClock

    clock = SystemClock()
    out: dict[str, Any] = {}
    delivery = Delivery(id=1, key="email:bench:subscriber-1", channel="email",
                        recipient="sub00001@bench.test", event_type="incident.opened",
                        payload={"subject": "[investigating] Orders failing",
                                 "text": "We are looking into it.\n" * 20,
                                 "html": "<p>We are looking into it.</p>" * 20,
                                 "headers": {"List-Unsubscribe": "<http://x/u>",
                                             "List-Unsubscribe-Post":
                                                 "List-Unsubscribe=One-Click"}})
    port = free_port()
    with receiver("email", port):
        mailer = SmtpMailer(f"smtp://{HOST}:{port}", clock)
        began = time.perf_counter()
        for _ in range(messages):
            mailer.message(delivery)
        out["mime_build_ms"] = (time.perf_counter() - began) / messages * 1000
        began = time.perf_counter()
        for _ in range(messages):
            mailer.message(delivery).as_bytes()
        out["mime_build_and_serialize_ms"] = (time.perf_counter() - began) / messages * 1000
        began = time.perf_counter()
        for _ in range(messages):
            mailer.send(delivery)
            mailer.close_idle()
        out["smtp_send_new_connection_ms"] = (time.perf_counter() - began) / messages * 1000
        began = time.perf_counter()
        for _ in range(messages):
            mailer.send(delivery)
        mailer.close_idle()
        out["smtp_send_pooled_connection_ms"] = (time.perf_counter() - began) / messages * 1000
    port = free_port()
    with receiver("webhook", port):
        url = f"http://{HOST}:{port}/hook/1"
        began = time.perf_counter()
        for _ in range(calls):
            with httpx.Client(timeout=10, trust_env=False) as client:
                client.post(url, content=b"{}")
        out["webhook_new_client_ms"] = (time.perf_counter() - began) / calls * 1000
        began = time.perf_counter()
        for _ in range(calls):
            httpx.Client(timeout=10, trust_env=False).close()
        out["httpx_client_create_ms"] = (time.perf_counter() - began) / calls * 1000
        with httpx.Client(timeout=10, trust_env=False) as client:
            began = time.perf_counter()
            for _ in range(calls):
                client.post(url, content=b"{}")
            out["webhook_shared_client_ms"] = (time.perf_counter() - began) / calls * 1000
    return out


# --- setup and orchestration (this process) ------------------------------------------------

def new_database(backend: str, tmp: Path, pg_server: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp / f'fanout-{uuid.uuid4().hex[:8]}.sqlite'}"
    name = f"bw_bench_fanout_{uuid.uuid4().hex[:10]}"
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


def seed(url: str, channel: str, count: int, port: int) -> None:
    """`count` confirmed subscribers of REGION (whole region), ids 1..count."""
    from core import migrate
    from status.models import Subscriber, SubscriberScope

    migrate.upgrade(url)
    now = datetime.now(UTC)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(Subscriber), [
                {"id": n, "kind": channel, "created_at": now, "confirmed_at": now,
                 "consecutive_failures": 0,
                 "address": (f"sub{n:05d}@bench.test" if channel == "email"
                             else f"http://{HOST}:{port}/hook/{n}"),
                 "secret": None if channel == "email" else f"{SECRET_PREFIX}{n}"}
                for n in range(1, count + 1)])
            conn.execute(insert(SubscriberScope), [
                {"subscriber_id": n, "region": REGION, "component": ""}
                for n in range(1, count + 1)])
    finally:
        engine.dispose()


def run_measured(argv: list[str], profile_out: Path | None, py_spy: str | None,
                 timeout: float) -> dict[str, Any]:
    if profile_out is not None and py_spy is not None:
        argv = [*py_spy_argv(py_spy, profile_out), "--", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 120,
                          check=False)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            parsed: dict[str, Any] = json.loads(line[len("RESULT "):])
            return parsed
    raise RuntimeError(f"the measured child failed ({done.returncode}):\n{done.stderr[-3000:]}")


@dataclass(frozen=True)
class Case:
    backend: str
    channel: str
    count: int
    variant: str = "as-is"
    dispatchers: int = 1
    processes: int = 1

    @property
    def what_if(self) -> bool:
        return (self.variant, self.dispatchers, self.processes) != ("as-is", 1, 1)


def cases(args: argparse.Namespace, backends: list[str]) -> list[Case]:
    """The measured cases: as the code is, on every backend, with dispatch_once called back
    to back and as scheduled (the job every 1 s); then the what-if on the first."""
    chosen = [Case(b, channel, count, variant, dispatchers=args.dispatchers)
              for b in backends for variant in VARIANTS
              for channel, count in (("email", args.emails), ("webhook", args.webhooks))]
    if not args.no_what_if and backends:
        # On PostgreSQL when it is measured: the production store, where several dispatcher
        # processes do not queue on one database file lock.
        first = "postgresql" if "postgresql" in backends else backends[0]
        chosen += [Case(first, "email", args.emails, processes=2)]
    return chosen


def measure(case: Case, args: argparse.Namespace, tmp: Path, py_spy: str | None,
            ) -> dict[str, Any]:
    url = new_database(case.backend, tmp, args.pg_server)
    try:
        port = free_port()
        seeding = time.perf_counter()
        seed(url, case.channel, case.count, port)
        say(f"{case.backend} {case.channel} {case.variant}, {case.dispatchers} loop(s) × "
            f"{case.processes} process(es): {case.count:,} subscribers seeded in "
            f"{time.perf_counter() - seeding:.1f} s; measuring")
        argv = [PYTHON, str(Path(__file__).resolve()), "--run", case.channel, "--url", url,
                "--count", str(case.count), "--port", str(port), "--dispatchers",
                str(case.dispatchers), "--processes", str(case.processes), "--variant",
                case.variant, "--timeout", str(args.timeout)]
        profile_out = (tmp / f"profile-{case.backend}-{case.channel}.txt"
                       if args.profile and not case.what_if else None)
        result = run_measured(argv, profile_out, py_spy, args.timeout)
        result["backend"] = case.backend
        if profile_out is not None and profile_out.is_file():
            result["profile"] = summarize(profile_out, groups=PROFILE_GROUPS)
        say(f"  announce {result['announce_commit_s']:.2f} s, last received after "
            f"{result['to_last_s']:.1f} s, {result['received']:,}/{result['enqueued']:,} "
            "received")
        return result
    finally:
        drop_database(url, args.pg_server)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text(encoding="ascii").split()[:3])


def _f(value: Any, digits: int = 1) -> str:
    if not isinstance(value, int | float) or value != value:
        return "?"
    return f"{value:,.{digits}f}"


def _how(r: Mapping[str, Any]) -> str:
    how = str(r["variant"])
    if r["dispatchers"] > 1:
        how += f", {r['dispatchers']} loops (threads)"
    if r["processes"] > 1:
        how += f", {r['processes']} processes"
    return how


def report(results: list[dict[str, Any]], costs: Mapping[str, float] | None) -> None:
    say("\n| backend | channel | dispatcher | notices | announce() s (incl. commit) "
        "| announce → last received s | target | per s | received / distinct (/ signed ok) "
        "| outbox statuses | peak RSS MiB | CPU s: dispatcher process(es) / receiver |")
    say("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        target = TARGETS_S[r["channel"]]
        met = "met" if r["to_last_s"] < target and not r["timed_out"] else "MISSED"
        signed = f" / {r['verified']:,}" if r["channel"] == "webhook" else ""
        peak = " + ".join(_f(p) for p in [r["peak_rss_mib"], *r["helper_peak_rss_mib"]])
        cpu = r["cpu_s"] + r["helpers_cpu_s"]
        say(f"| {r['backend']} | {r['channel']} | {_how(r)} | {r['enqueued']:,} "
            f"| {_f(r['announce_s'], 2)} ({_f(r['announce_commit_s'], 2)}) "
            f"| **{_f(r['to_last_s'])}** | < {target:g} s: {met} "
            f"| {_f(r['received'] / r['to_last_s'], 0)} "
            f"| {r['received']:,} / {r['distinct']:,}{signed} "
            f"| {', '.join(f'{k} {v:,}' for k, v in r['statuses'].items())} "
            f"| {peak} | {_f(cpu)} / {_f(r['receiver_cpu_s'])} |")
    say("\nwhere the time goes (dispatch phase; timings of the first process only):\n")
    say("| backend | channel | dispatcher | dispatch s | CPU per notice ms (announce incl.) "
        "| CPU / wall | dispatch_once calls, mean ms | sender calls: mean / p50 / p99 ms, sum s "
        "| SQL statements: n (per notice), sum s, per notice ms | SQL in announce s |")
    say("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        s, c, q = r["sends"], r["calls"], r["sql"]
        per_notice_ms = q["sum_s"] / max(r["enqueued"], 1) * 1000
        cpu = r["cpu_s"] + r["helpers_cpu_s"]
        wall = max(r["dispatch_s"] + r["announce_commit_s"], 1e-9)
        say(f"| {r['backend']} | {r['channel']} | {_how(r)} | {_f(r['dispatch_s'])} "
            f"| {_f(cpu / max(r['enqueued'], 1) * 1000, 2)} | {_f(cpu / wall, 2)} "
            f"| {c['count']:,}, {_f(c['mean_ms'])} "
            f"| {_f(s['mean_ms'])} / {_f(s['p50_ms'])} / {_f(s['p99_ms'])}, {_f(s['sum_s'])} "
            f"| {q['count']:,} ({_f(q['count'] / max(r['enqueued'], 1), 2)}), {_f(q['sum_s'])}, "
            f"{_f(per_notice_ms, 2)} "
            f"| {_f(r['announce_sql_s'], 2)} |")
    if costs:
        say("\nper-message costs against the same local receivers (one thread, ms):\n")
        for key, value in costs.items():
            say(f"- {key}: {value:.2f}")
    for r in results:
        if "profile" in r:
            say(f"\nprofile of the measured process, {r['backend']} {r['channel']}:\n")
            for line in r["profile"]:
                say(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--emails", type=int, default=10_000)
    parser.add_argument("--webhooks", type=int, default=1_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-server", default=PG_SERVER)
    parser.add_argument("--dispatchers", type=int, default=1,
                        help="dispatch_once loops in threads, each its own Dispatcher")
    parser.add_argument("--timeout", type=float, default=600.0, help="per measured run, s")
    parser.add_argument("--no-what-if", action="store_true", help="only the code as it is")
    parser.add_argument("--no-costs", action="store_true", help="skip the per-message costs")
    parser.add_argument("--profile", action="store_true", help="py-spy each measured child")
    parser.add_argument("--py-spy", default=None)
    parser.add_argument("--run", choices=("email", "webhook", "costs"), help=argparse.SUPPRESS)
    parser.add_argument("--url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--processes", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--variant", choices=VARIANTS, default="as-is", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run == "costs":
        print("RESULT " + json.dumps(costs_child(500, 300)), flush=True)
        return
    if args.run:
        result = run_child(args.run, args.url, args.count, args.port, args.dispatchers,
                           args.processes, args.variant, args.timeout)
        print("RESULT " + json.dumps(result), flush=True)
        return
    if not (1 <= args.emails <= 100_000 and 1 <= args.webhooks <= 20_000
            and 1 <= args.dispatchers <= 16 and 1 <= args.timeout <= 3600):
        sys.exit("out of bounds: --emails ≤ 100,000, --webhooks ≤ 20,000, --dispatchers ≤ 16, "
                 "--timeout ≤ 3600")
    backends = [b for b in args.backends.split(",") if b]
    py_spy = find_py_spy(args.py_spy) if args.profile else None
    if args.profile and py_spy is None:
        say("py-spy not found: no profiles")
    say(f"fan-out: {args.emails:,} emails, {args.webhooks:,} webhooks; backends "
        f"{', '.join(backends)}; {os.cpu_count()} CPUs; load average {loadavg()}")
    with tempfile.TemporaryDirectory(prefix="bw-bench-fanout-") as tmp:
        results = [measure(case, args, Path(tmp), py_spy) for case in cases(args, backends)]
    costs = None
    if not args.no_costs:
        costs = run_measured([PYTHON, str(Path(__file__).resolve()), "--run", "costs"], None,
                             None, 300)
    report(results, costs)
    say(f"\nload average at the end: {loadavg()}")


if __name__ == "__main__":
    main()
