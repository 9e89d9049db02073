"""The scale run: the scale-out layout on PostgreSQL at 1,000 (component, region) pairs.

Run: `.venv/bin/python bench/scale_run.py [--minutes 10] [--regions 100] [--outages 3]
[--warm-up-s 90] [--pg-server URL] [--profile DIR]`.

On a new database of the PostgreSQL server (dropped afterwards, even on SIGTERM) it starts
`bellwether commerce serve` with `--regions` regions (100: 400 listeners), one `bellwether
web`, two `bellwether worker` and three `bellwether agent` (loc-a, loc-b, loc-c), each a
process of its own. The catalogue is the default one (8 services and the shop transaction
per region) plus one `router` probe per region (GET the region router's /healthz), so 100
regions make 1,000 pairs; every agent runs every probe at 30 s: 100 checks/s in all.

After the warm-up (every pair checked from every location), the window begins. For each
process it reads user + system CPU from /proc at both ends of the window (CPU-seconds of a
process are little moved by other work on the machine; its latencies are). Every 5 s it
samples the evaluation delay (now minus the last `probes.evaluate` run in `job_runs`) and
the rollup delay (now minus the oldest check not rolled up yet). `--outages` times, spread
over the window and a random 0-30 s into a probe interval, it injects `region_down` into a
region not used before through the fault API and times fault → the region's first
`major_outage` state change (the evaluator's `at`), then clears it. At the end the agents
stop first (they drain their spools), and from the stored checks of the window it reports
scheduler lag (started_at − intended_at, p50/p99) and checks lost: per (probe, location)
job, scheduled slots of the window with no stored check (confirmation re-checks are extra
and not counted). With `--profile DIR` every Bellwether process is recorded by py-spy for
the window (`pip install py-spy` into .venv first).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from bench._common import (
    PYTHON,
    ROOT,
    exit_on_sigterm,
    free_port,
    percentile,
    process_cpu_seconds,
    say,
    wait_for_port,
)

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TOKEN = "bench-scale-admin-token-0123456789"
LOCATIONS = ("loc-a", "loc-b", "loc-c")
INTERVAL_S = 30
COMPONENTS = tuple(f"c{i}" for i in range(10))


class Process:
    """One Bellwether process of the layout, its output in a log file; always stopped."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log_path = logs / f"{name}.log"
        self._log: IO[str] = self.log_path.open("w", encoding="utf-8")
        self.popen = subprocess.Popen([PYTHON, str(ROOT / "app.py"), *args], cwd=ROOT, env=env,
                                      stdout=self._log, stderr=subprocess.STDOUT, text=True,
                                      start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, needle: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.output():
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n"
                                   f"{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: no {needle!r} after {timeout:g} s")
            time.sleep(0.2)

    def cpu(self) -> float:
        return process_cpu_seconds(self.pid)

    def stop(self, timeout: float = 60.0) -> int:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        self._log.close()
        return int(self.popen.returncode)


def api(port: int, method: str, path: str, body: object | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method=method,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def scalar(engine: Engine, sql: str, **params: object) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def wait(predicate: Any, timeout: float, what: str, every: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} after {timeout:g} s")
        time.sleep(every)


def config_text(commerce_regions: list[str], target_regions: list[str],
                target_url: str) -> str:
    """A `router` probe per commerce region (GET its router's /healthz), and 10 components
    per region of the target set."""
    lines = ["backup_interval_minutes = 100000", ""]
    for region in commerce_regions:
        lines += ["[[probes]]", f'name = "router.{region}"', 'component = "router"',
                  f'region = "{region}"',
                  'steps = [{ method = "GET", path = "/healthz", auth = "none" }]', ""]
    for region in target_regions:
        for component in COMPONENTS:
            lines += ["[[probes]]", f'name = "{component}.{region}"',
                      f'component = "{component}"', f'region = "{region}"',
                      f'base_url = "{target_url}"',
                      f'steps = [{{ method = "GET", path = "/{region}/{component}", '
                      'auth = "none" }]', ""]
    return "\n".join(lines)


def agent_tokens(engine: Engine) -> dict[str, str]:
    from core.auth import create_token, create_user
    from core.db import make_session_factory, session_scope
    from core.models import Role

    with session_scope(make_session_factory(engine)) as session:
        now = datetime.now(UTC)
        user = create_user(session, email="agents@scale.bench", role=Role.AGENT, now=now)
        return {loc: create_token(session, user, name=loc, now=now, locations=[loc])
                for loc in LOCATIONS}


def pg_backends_cpu(engine: Engine, database: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving our database (same machine)."""
    with engine.connect() as conn:
        pids = [int(row[0]) for row in conn.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = :d"), {"d": database})]
    found = {}
    for pid in pids:
        try:
            found[pid] = process_cpu_seconds(pid)
        except OSError:
            continue
    return found


def switch_target(target_port: int, what: str, region: str) -> None:
    request = urllib.request.Request(f"http://127.0.0.1:{target_port}/{what}/{region}",
                                     data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def detect_outage(port: int, engine: Engine, region: str, target_port: int | None) -> float:
    """Take the region down (commerce's region_down through the fault API, or the target
    set's region); seconds to the region's first major_outage; then bring it back."""
    since = scalar(engine, "SELECT coalesce(max(id), 0) FROM component_state_changes")
    injected = datetime.now(UTC)
    if target_port is None:
        fault = api(port, "POST", "/api/v1/faults", {"kind": "region_down", "region": region})
    else:
        switch_target(target_port, "down", region)
    try:
        found: list[datetime] = []

        def detected() -> bool:
            at = scalar(engine, "SELECT min(at) FROM component_state_changes WHERE id > :s "
                                "AND region = :r AND to_state = 'major_outage'",
                        s=since, r=region)
            if at is not None:
                found.append(at if at.tzinfo else at.replace(tzinfo=UTC))
            return at is not None

        wait(detected, 240, f"major_outage in {region}", every=0.1)
        return (found[0] - injected).total_seconds()
    finally:
        if target_port is None:
            api(port, "DELETE", f"/api/v1/faults/{fault['id']}")
        else:
            switch_target(target_port, "up", region)


def window_checks(engine: Engine, start: datetime, end: datetime,
                  ) -> tuple[list[float], int, int, int]:
    """Lags (s) of the window's checks, checks stored, slots expected and slots missing."""
    lags: list[float] = []
    slots: dict[tuple[str, str], set[int]] = defaultdict(set)
    stored = 0
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT probe, location, intended_at, started_at FROM probe_checks "
            "WHERE intended_at >= :a AND intended_at < :b"), {"a": start, "b": end})
        for probe, location, intended, started in rows:
            stored += 1
            lags.append((started - intended).total_seconds())
            slots[(probe, location)].add(int(intended.timestamp()))
        jobs = [(str(p), loc) for (p,) in conn.execute(text("SELECT name FROM probes "
                                                             "WHERE enabled"))
                for loc in LOCATIONS]
    expected = missing = 0
    for job in jobs:
        seen = sorted(slots.get(job, ()))
        # The job's own slots are INTERVAL_S apart from its first one; re-checks fall between.
        if not seen:
            want = int((end - start).total_seconds() // INTERVAL_S)
            expected, missing = expected + want, missing + want
            continue
        phase = seen[0] % INTERVAL_S
        first = int(start.timestamp()) + (phase - int(start.timestamp())) % INTERVAL_S
        own = range(first, int(end.timestamp()), INTERVAL_S)
        have = set(seen)
        expected += len(own)
        missing += sum(1 for slot in own if slot not in have)
    return lags, stored, expected, missing


def start_layout(url: str, regions: list[str], targets: list[str], target_url: str,
                 work: Path, engine: Engine, procs: dict[str, Process]) -> int:
    """Start every process into `procs` (so the caller stops them whatever happens); the
    web port."""
    config = work / "bellwether.toml"
    config.write_text(config_text(regions, targets, target_url), encoding="utf-8")
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith("BELLWETHER_")}
    base.update(BELLWETHER_DATABASE_URL=url, BELLWETHER_CONFIG=str(config),
                BELLWETHER_REGIONS=",".join(regions), BELLWETHER_ADMIN_TOKEN=TOKEN,
                BELLWETHER_SECRET_KEY="bench-scale-secret", BELLWETHER_HTTP_PORT=str(port),
                BELLWETHER_DATA_DIR=str(work / "data"))
    logs = work / "logs"
    logs.mkdir()
    procs["commerce"] = Process("commerce", ["commerce", "serve"], base, logs)
    procs["commerce"].wait_for("Press Ctrl+C", 600)
    say(f"commerce serve up ({len(regions)} regions); target set: {len(targets)} regions")
    procs["web"] = Process("web", ["web"], base, logs)
    wait_for_port(port, 120)
    # One after the other: two workers seeding the probe table at once collide on its key
    # (seen here: UniqueViolation on pk_probes, the second worker exits).
    for name in ("w1", "w2"):
        procs[f"worker-{name}"] = Process(f"worker-{name}", ["worker", "--name", name], base,
                                          logs)
        procs[f"worker-{name}"].wait_for("Press Ctrl+C", 300)
    tokens = agent_tokens(engine)
    for location in LOCATIONS:
        procs[f"agent-{location}"] = Process(
            f"agent-{location}", ["agent", "--location", location, "--server",
                                  f"http://127.0.0.1:{port}", "--token", tokens[location],
                                  "--spool-dir", str(work / f"spool-{location}")], base, logs)
    for location in LOCATIONS:
        procs[f"agent-{location}"].wait_for("probing from", 300)
    say(f"layout up: web on port {port}, 2 workers, 3 agents; logs in {logs}")
    return port


def profile(procs: dict[str, Process], out: Path, seconds: int) -> list[subprocess.Popen[bytes]]:
    spy = ROOT / ".venv" / "bin" / "py-spy"
    out.mkdir(parents=True, exist_ok=True)
    return [subprocess.Popen([str(spy), "record", "--pid", str(p.pid), "--rate", "25",
                              "--duration", str(seconds), "--format", "raw", "--nonblocking",
                              "--subprocesses", "--output", str(out / f"{name}.txt")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for name, p in procs.items()]


def measure(args: argparse.Namespace, url: str, work: Path) -> None:
    names = [f"r{i:03d}.bench" for i in range(args.regions)]
    # commerce: every region in `commerce serve`; light: one commerce region (the default
    # catalogue and its shop transaction through a real router), the others in the target set.
    regions, targets = (names, []) if args.target == "commerce" else (names[:1], names[1:])
    target_port = free_port()
    target_url = f"http://127.0.0.1:{target_port}"
    database = str(make_url(url).database)
    engine = create_engine(url, pool_pre_ping=True)
    procs: dict[str, Process] = {}
    target = subprocess.Popen([PYTHON, str(ROOT / "bench" / "_scale_targets.py"),
                               str(target_port)], cwd=ROOT)
    try:
        wait_for_port(target_port, 60)
        port = start_layout(url, regions, targets, target_url, work, engine, procs)
        pairs = scalar(engine, "SELECT count(DISTINCT component || '@' || region) "
                               "FROM probes WHERE enabled")
        jobs = int(scalar(engine, "SELECT count(*) FROM probes WHERE enabled")) * len(LOCATIONS)
        say(f"{pairs} pairs, {jobs} jobs: {jobs / INTERVAL_S:.0f} checks/s wanted")
        began = datetime.now(UTC)
        wait(lambda: scalar(engine, "SELECT count(DISTINCT probe || location) FROM "
                                    "probe_checks WHERE started_at > :t", t=began) >= jobs,
             args.warm_up_s + 600, "checks of every job")
        remaining = args.warm_up_s - (datetime.now(UTC) - began).total_seconds()
        if remaining > 0:
            time.sleep(remaining)
        say(f"warm: every job checked after {(datetime.now(UTC) - began).total_seconds():.0f} s")
        seconds = args.minutes * 60
        spies = profile(procs, Path(args.profile), seconds) if args.profile else []
        start = datetime.now(UTC)
        cpu0 = {name: p.cpu() for name, p in procs.items()}
        pg0 = pg_backends_cpu(engine, database)
        t0 = time.monotonic()
        evaluation: list[float] = []
        rollup: list[float] = []
        rng = random.Random(args.seed)
        outage_at = [seconds * (i + 0.5) / max(1, args.outages) for i in range(args.outages)]
        # The first outage is commerce's region_down (as the 24-pair benchmark injects it);
        # in the light layout the others take down regions of the target set.
        outage_regions = [regions[0], *rng.sample(targets or regions[1:], args.outages - 1)]
        detections: list[tuple[str, float]] = []
        while (elapsed := time.monotonic() - t0) < seconds:
            now = datetime.now(UTC)
            last = scalar(engine, "SELECT last_run_at FROM job_runs "
                                  "WHERE name = 'probes.evaluate'")
            if last is not None:
                evaluation.append((now - (last if last.tzinfo else last.replace(tzinfo=UTC))
                                   ).total_seconds())
            oldest = scalar(engine, "SELECT min(started_at) FROM probe_checks "
                                    "WHERE NOT rolled_up")
            rollup.append(0.0 if oldest is None else (now - oldest).total_seconds())
            if outage_at and elapsed >= outage_at[0]:
                outage_at.pop(0)
                region = outage_regions[len(detections)]
                time.sleep(rng.uniform(0, INTERVAL_S))
                detected = detect_outage(port, engine, region,
                                         target_port if region in targets else None)
                detections.append((region, detected))
                how = "target set down" if region in targets else "region_down"
                say(f"outage {len(detections)}: {how} {region} detected in {detected:.1f} s")
                continue
            time.sleep(5)
        end = datetime.now(UTC)
        window = time.monotonic() - t0
        cpu1 = {name: p.cpu() for name, p in procs.items()}
        pg1 = pg_backends_cpu(engine, database)
        for spy in spies:  # py-spy writes its file at the end; a slow one is not results
            try:
                spy.wait(120)
            except subprocess.TimeoutExpired:
                spy.kill()
        report(procs, cpu0, cpu1, pg0, pg1, window, evaluation, rollup, detections)
        for name in [n for n in procs if n.startswith("agent-")]:  # drain their spools
            code = procs.pop(name).stop(timeout=120)
            say(f"{name} stopped: exit {code}")
        wait(lambda: scalar(engine, "SELECT count(*) FROM probe_checks WHERE received_at "
                                    "> now() - interval '3 seconds'") == 0, 60, "quiet ingest")
        trim = timedelta(seconds=min(60.0, window / 4))
        lags, stored, expected, missing = window_checks(engine, start + trim, end - trim)
        say(f"\nchecks in the window (its first and last {trim.total_seconds():.0f} s left out): "
            f"{stored:,} stored; "
            f"{expected:,} scheduled slots, {missing:,} without a stored check "
            f"({100 * missing / max(1, expected):.3f} %)")
        say(f"scheduler lag (started_at - intended_at): p50 {percentile(lags, 0.5) * 1000:.1f}"
            f" ms, p99 {percentile(lags, 0.99) * 1000:.1f} ms, max {max(lags) * 1000:.0f} ms")
    finally:
        for name, proc in reversed(list(procs.items())):
            code = proc.stop(timeout=120)
            say(f"{name} stopped: exit {code}")
        target.terminate()
        target.wait(30)
        engine.dispose()


def report(procs: dict[str, Process], cpu0: dict[str, float], cpu1: dict[str, float],
           pg0: dict[int, float], pg1: dict[int, float], window: float,
           evaluation: list[float], rollup: list[float],
           detections: list[tuple[str, float]]) -> None:
    say(f"\nwindow {window:.0f} s")
    say("| process | CPU s | % of a core |")
    say("|---|---|---|")
    bellwether = 0.0
    for name in procs:
        used = cpu1[name] - cpu0[name]
        if name != "commerce":
            bellwether += used
        say(f"| {name} | {used:.1f} | {100 * used / window:.1f} % |")
    say(f"| **Bellwether (web, workers, agents)** | {bellwether:.1f} | "
        f"**{100 * bellwether / window:.1f} %** |")
    total = bellwether + cpu1["commerce"] - cpu0["commerce"]
    say(f"| all, commerce serve included | {total:.1f} | {100 * total / window:.1f} % |")
    pg = sum(pg1[pid] - pg0[pid] for pid in pg1 if pid in pg0)
    say(f"| PostgreSQL backends of this database (present at both ends) | {pg:.1f} | "
        f"{100 * pg / window:.1f} % |")
    say(f"\nevaluation delay (now - last probes.evaluate run, every 5 s): median "
        f"{statistics.median(evaluation):.2f} s, p99 {percentile(evaluation, 0.99):.2f} s, "
        f"max {max(evaluation):.2f} s")
    say(f"rollup delay (now - oldest check not rolled up): median "
        f"{statistics.median(rollup):.1f} s, p99 {percentile(rollup, 0.99):.1f} s, max "
        f"{max(rollup):.1f} s")
    if detections:
        values = [d for _, d in detections]
        say(f"detection (fault -> major_outage): {', '.join(f'{d:.1f}' for d in values)} s; "
            f"median {statistics.median(values):.1f} s")


def main() -> None:
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--regions", type=int, default=100)
    parser.add_argument("--target", choices=("light", "commerce"), default="light",
                        help="light: one commerce region, the rest an equivalent target set "
                             "(bench/_scale_targets.py); commerce: every region in commerce "
                             "serve")
    parser.add_argument("--outages", type=int, default=3)
    parser.add_argument("--warm-up-s", type=float, default=90)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--pg-server", default=PG_SERVER)
    parser.add_argument("--profile", default="", help="a directory for py-spy's raw output")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    name = f"bw_scale_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.pg_server).set(database=name).render_as_string(hide_password=False)
    work = Path(tempfile.mkdtemp(prefix="bw-bench-scale-"))
    try:
        from core import migrate

        migrate.upgrade(url)
        say(f"database {name}; work directory {work}")
        measure(args, url, work)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        if not args.keep:
            import shutil

            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
