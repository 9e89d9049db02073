"""The public status page under load: `bellwether up`, and the scale-out web process,
against a Flask hello-world ceiling.

Run: `.venv/bin/python bench/status_page.py [--seconds 10] [--rounds 3] [--connections 64]
[--threads 2] [--web-threads N] [--no-what-if] [--profile] [--set BELLWETHER_X=VALUE]`.
Targets (issue 15): the overview and the summary at ≥ 1.0 × the hello-world ceiling of the
same run, p99 < 50 ms, while `up` probes every 5 s.

Servers, each in its own process, all started before measuring:

* `up`: `python app.py up` with a temporary BELLWETHER_DATA_DIR (embedded SQLite), a free
  BELLWETHER_HTTP_PORT and BELLWETHER_PROBE_INTERVAL_S=5, so probes, the commerce set they
  probe and the publish job keep running while it is measured. Measuring starts once
  GET /api/v2/summary.json answers 200 from the static copy (the file
  <data dir>/public/api/v2/summary.json exists and the answer has Last-Modified, which only
  a published file gets); the static-copy layer (status.static_site) answers it before Flask.
* `hello`, the ceiling: a Flask hello-world (one route, 13 bytes) on `core.servers.Listener`
  with `settings.server_threads` threads (or `--web-threads`, given to every server), as
  `up` serves its web app.
* `web`, the scale-out layout's web process: `python app.py web` on the same data directory
  (database and static copy), in its own process and GIL. While it is measured `up` keeps
  running beside it (probes, commerce set, jobs: the `worker` and `commerce serve` part of
  the layout), on the same CPU.
* what-if (`--no-what-if` skips it): `alone`, the same web app (`create_app`) on the same
  Listener reading the same static copy, with every other server paused, `up` included.

The overview (the front page, `/`), the region page and the summary are measured twice on
each server: as wrk asks by default
(no Accept-Encoding: the identity bytes) and with `-H "Accept-Encoding: gzip, deflate, br,
zstd"` (what Chromium sends; the static copy then answers the gzip copy published beside the
file). The hello-world ceiling is the same for both (it has nothing to compress).

Each round runs wrk once per URL; while one server is measured every other one is paused
(SIGSTOP), except `up` beside `web`, so an idle `up` (its probes) never eats into the
hello-world ceiling. wrk: `-t2 -c64 --latency` (keep-alive), 2 s of warm-up per URL first,
not counted. On two or more CPUs every server is pinned to the first CPU and wrk to the
second. Medians over the rounds; ratios are of medians from this one run. Listen-queue
overflows are the kernel's TcpExt ListenOverflows counter (system-wide) over each run.
Requests per server CPU-second (from /proc/<pid>/stat; for `up` it includes its probes and
jobs, for `web` it is the web process alone) say the same thing with less of the machine's
noise in it when other tenants take CPU time. `--profile` then samples `up` and `web` with
py-spy during one more run of the region page and of the summary each. BELLWETHER_*
variables in the environment are dropped, so the defaults are measured.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (
    HOST,
    PYTHON,
    ROOT,
    Child,
    client_and_server_cpus,
    free_port,
    listen_overflows,
    pin,
    process_cpu_seconds,
    say,
    wait_for_port,
)
from bench._status_common import WrkRun, find_py_spy, record_pid, run_wrk, summarize
from core.config import load_settings

REGION = "europe-west1.gcp"
OVERVIEW, PAGE = "/", f"/regions/{REGION}/"
SUMMARY, STATIC = "/api/v2/summary.json", "/static/status.css"
#: The documents measured on every server, by row name: the overview (the front page), a
#: region's page and the Statuspage summary.
DOCUMENTS = (("overview", OVERVIEW), ("page", PAGE), ("summary", SUMMARY))
#: The rows held to the targets (issue 15: the overview and the summary, probes at 5 s).
TARGET_DOCUMENTS = ("overview", "summary")
#: What Chromium sends; any browser's value takes gzip.
BROWSER_ENCODINGS = "gzip, deflate, br, zstd"
GZIP_HEADERS = (f"Accept-Encoding: {BROWSER_ENCODINGS}",)
TARGET_RATIO = 1.0
TARGET_P99_MS = 50.0
#: Loopback only: never through a proxy the environment may name.
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
#: Where a profiled stack belongs: the first group with a marker in it (see summarize).
PROFILE_GROUPS = (
    ("commerce set (the probes' targets, in-process)", ("commerce/",)),
    ("web app: the static-copy layer before Flask", ("status/static_site.py",)),
    ("web app: the status views and Flask/cheroot around them", ("status/public.py",)),
    ("publish job (status.publish)", ("status/site_jobs.py",)),
    ("other jobs (APScheduler)", ("apscheduler/",)),
    ("probe writer", ("probes/writer.py",)),
    ("probe runner and scheduler", ("probes/",)),
)


# --- servers run as children of this script (--serve hello|web) ------------------------------

def _hello_app() -> Any:
    from flask import Flask

    app = Flask("hello")

    @app.get("/")
    def hello() -> str:
        return "Hello, World!"

    return app


def _web_app() -> Any:
    """The web app of `up` alone, reading the static copy the `up` beside it publishes."""
    from app import create_app
    from status.site import public_dir

    settings = load_settings()
    return create_app(settings, parts={"public_dir": public_dir(settings)})


def serve(kind: str, port: int, threads: int) -> None:
    """Serve `kind` (hello or web) on core.servers.Listener until SIGTERM."""
    from core.servers import Listener

    app = _hello_app() if kind == "hello" else _web_app()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    listener = Listener(kind, app, host=HOST, port=port, threads=threads)
    listener.start()
    stop.wait()
    listener.stop()


# --- measuring --------------------------------------------------------------------------------

@dataclass
class Series:
    """The wrk runs of one URL on one server, with the server's CPU and listen overflows."""

    label: str
    runs: list[WrkRun] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    overflows: list[int] = field(default_factory=list)

    def median(self, attribute: str) -> float:
        values = [getattr(r, attribute) for r in self.runs if getattr(r, attribute) is not None]
        return statistics.median(values) if values else float("nan")

    def per_cpu(self) -> float:
        """Median requests per CPU-second of the server process (all its threads)."""
        return statistics.median(r.requests / c if c > 0 else float("nan")
                                 for r, c in zip(self.runs, self.cpu, strict=True))


@dataclass
class Server:
    name: str
    child: Child
    base: str
    beside: tuple[str, ...] = ()  # servers left running while this one is measured


def pinned_to(cpu: int | None) -> Callable[[], None] | None:
    """A preexec_fn that pins the child to `cpu` (None: not pinned)."""
    if cpu is None:
        return None

    def pin_child() -> None:
        pin(cpu)

    return pin_child


@contextlib.contextmanager
def only(measured: Server, servers: list[Server]) -> Iterator[None]:
    """SIGSTOP every server but `measured` and the ones it works beside (they take no CPU
    meanwhile); SIGCONT after."""
    others = [s for s in servers if s is not measured and s.name not in measured.beside]
    for server in others:
        os.kill(server.child.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for server in others:
            os.kill(server.child.pid, signal.SIGCONT)


def measure(server: Server, path: str, args: argparse.Namespace, wrk_cpu: int | None,
            series: Series | None, seconds: float | None = None,
            headers: tuple[str, ...] = ()) -> WrkRun:
    before, dropped = process_cpu_seconds(server.child.pid), listen_overflows()
    began = time.perf_counter()
    run = run_wrk(server.base + path, seconds or args.seconds, args.connections, args.threads,
                  pinned_to(wrk_cpu), headers)
    wall = time.perf_counter() - began
    # The server's CPU over wrk's whole life, scaled to wrk's own measuring time.
    cpu = (process_cpu_seconds(server.child.pid) - before) * min(1.0, run.seconds / wall)
    overflows = listen_overflows() - dropped
    if series is not None:
        series.runs.append(run)
        series.cpu.append(cpu)
        series.overflows.append(overflows)
        p99 = f"{run.p99_ms:.1f}" if run.p99_ms is not None else "?"
        say(f"  {series.label}: {run.rate:,.0f} req/s, p99 {p99} ms, CPU "
            f"{cpu / run.seconds * 100:.0f} %, {overflows} listen overflows, {run.errors} errors")
    return run


def fetch(url: str, encodings: str = "") -> tuple[int, dict[str, str]]:
    """Status and headers of a GET (urllib leaves a gzip body as it came)."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": encodings} if encodings
                                     else {})
    try:
        with NO_PROXY.open(request, timeout=5) as answer:
            answer.read()
            return int(answer.status), dict(answer.headers.items())
    except urllib.error.HTTPError as exc:
        return int(exc.code), {}
    except OSError:
        return 0, {}


def wait_for_static_copy(base: str, data_dir: Path, up: Child, timeout: float) -> float:
    """Seconds until summary.json is served from the published file."""
    began = time.perf_counter()
    published = data_dir / "public" / "api" / "v2" / "summary.json"
    while time.perf_counter() - began < timeout:
        if up.process.poll() is not None:
            sys.exit(f"bellwether up exited early with {up.process.returncode}")
        status, headers = fetch(base + SUMMARY)
        if status == 200 and published.is_file() and "Last-Modified" in headers:
            return time.perf_counter() - began
        time.sleep(0.25)
    sys.exit(f"no static copy after {timeout:g} s")


def start_server(name: str, kind: str, threads: int, cpu: int | None,
                 env: dict[str, str]) -> Server:
    """`kind` hello or web (this script's --serve), or `bellwether web` for "web-command"."""
    port = free_port()
    if kind == "web-command":
        argv = [PYTHON, str(ROOT / "app.py"), "web"]
        env = {**env, "BELLWETHER_HTTP_PORT": str(port)}
    else:
        argv = [PYTHON, str(Path(__file__).resolve()), "--serve", kind, "--port", str(port),
                "--server-threads", str(threads)]
    child = Child(argv, env=env, cpu=cpu)
    try:
        wait_for_port(port, timeout=60)
    except TimeoutError:
        child.stop()
        raise
    return Server(name, child, f"http://{HOST}:{port}", ("up",) if kind == "web-command" else ())


def stored_checks(data_dir: Path) -> int:
    path = data_dir / "bellwether.sqlite"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM probe_checks").fetchone()[0])


def up_env(data_dir: Path, port: int, interval: int, threads: int,
           extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BELLWETHER_")}
    env.update(BELLWETHER_DATA_DIR=str(data_dir), BELLWETHER_HTTP_PORT=str(port),
               BELLWETHER_PROBE_INTERVAL_S=str(interval),
               BELLWETHER_SERVER_THREADS=str(threads), **(extra or {}))
    return env


Row = tuple[str, str, str, tuple[str, ...]]  # series key, server name, path, wrk headers


def plan(servers: dict[str, Server], what_if: bool) -> list[Row]:
    """The rows of each round, in order: every page and summary without and with gzip."""
    rows: list[Row] = [("hello", "hello", "/", ())]
    for prefix, server in (("", "up"), ("web ", "web"), ("alone ", "alone")):
        if server == "alone" and not what_if:
            continue
        for name, path in DOCUMENTS:
            rows += [(f"{prefix}{name}", server, path, ()),
                     (f"{prefix}{name} gzip", server, path, GZIP_HEADERS)]
        if server == "up":
            rows.append(("static", "up", STATIC, ()))
    return [row for row in rows if row[1] in servers]


_SERVERS = {"": "up", "web ": "`bellwether web` beside up (probes running)",
            "alone ": "what-if: web app alone, up paused,"}
LABELS = {"hello": "hello-world `/` (Listener, ceiling)", "static": f"up `{STATIC}`"} | {
    f"{prefix}{name}{gz}": f"{server} `{path}`{' gzip' if gz else ''}"
    for prefix, server in _SERVERS.items() for name, path in DOCUMENTS
    for gz in ("", " gzip")}
TARGETED = tuple(f"{prefix}{name}{gz}" for prefix in ("", "web ") for name in TARGET_DOCUMENTS
                 for gz in ("", " gzip"))


def run_everything(args: argparse.Namespace, threads: int, server_cpu: int | None,
                   wrk_cpu: int | None) -> tuple[dict[str, Series], dict[str, Any],
                                                 dict[str, list[str]]]:
    port = free_port()
    facts: dict[str, Any] = {"load_start": loadavg()}
    summaries: dict[str, list[str]] = {}
    results: dict[str, Series] = {}
    with tempfile.TemporaryDirectory(prefix="bw-bench-status-") as tmp, \
            contextlib.ExitStack() as running:
        data_dir = Path(tmp)
        env = up_env(data_dir, port, args.interval, threads,
                     dict(item.split("=", 1) for item in args.set))
        say(f"bellwether up: port {port}, data dir {data_dir}, probe interval {args.interval} s;"
            f" web server threads {threads}; {' '.join(args.set) or 'no other settings'}")
        launched = time.perf_counter()
        up = Child([PYTHON, str(ROOT / "app.py"), "up"], env=env, cpu=server_cpu)
        running.callback(up.stop, 60)
        # On a loaded machine (load average 60-300 here) start-up and the first publish
        # took minutes.
        wait_for_port(port, timeout=600)
        facts["port_s"] = time.perf_counter() - launched
        facts["static_s"] = wait_for_static_copy(f"http://{HOST}:{port}", data_dir, up, 600)
        servers = {"up": Server("up", up, f"http://{HOST}:{port}")}
        others = [("hello", "hello"), ("web", "web-command")]
        if not args.no_what_if:
            others += [("alone", "web")]
        for name, kind in others:
            # A web app beside up reads its database and static copy (up_env's data dir).
            server = start_server(name, kind, threads, server_cpu, env)
            running.callback(server.child.stop)
            servers[name] = server
        everyone = list(servers.values())
        for path in (OVERVIEW, PAGE, SUMMARY, STATIC):
            for encodings in ("", BROWSER_ENCODINGS):
                status, headers = fetch(servers["up"].base + path, encodings)
                facts[f"{path} {encodings}"] = (status, "Last-Modified" in headers,
                                            headers.get("Content-Encoding", "identity"),
                                            headers.get("Content-Length"))
        _, headers = fetch(servers["web"].base + PAGE)
        facts["web_static"] = "Last-Modified" in headers
        rows = plan(servers, not args.no_what_if)
        for _, name, path, wrk_headers in rows:  # warm-up, not counted
            with only(servers[name], everyone):
                measure(servers[name], path, args, wrk_cpu, None, seconds=2,
                        headers=wrk_headers)
        with only(servers["up"], everyone):
            idle_before = process_cpu_seconds(up.pid)
            time.sleep(5)
            facts["idle_cpu"] = (process_cpu_seconds(up.pid) - idle_before) / 5
        results = {key: Series(LABELS[key]) for key, _, _, _ in rows}
        for number in range(args.rounds):
            say(f"round {number + 1}/{args.rounds}")
            for key, name, path, wrk_headers in rows:
                with only(servers[name], everyone):
                    measure(servers[name], path, args, wrk_cpu, results[key],
                            headers=wrk_headers)
        with only(servers["up"], everyone):
            _, headers = fetch(servers["up"].base + PAGE)
            facts["static_after"] = "Last-Modified" in headers
        if args.profile:
            profiled = [servers[name] for name in ("up", "web") if name in servers]
            summaries = profile(args, profiled, everyone, wrk_cpu,
                                Path(args.profile_dir or tmp))
        stopping = time.perf_counter()
        facts["exit"] = up.stop(timeout=60)
        facts["stop_s"] = time.perf_counter() - stopping
        facts["checks"] = stored_checks(data_dir)
    return results, facts, summaries


def profile(args: argparse.Namespace, servers: list[Server], everyone: list[Server],
            wrk_cpu: int | None, out_dir: Path) -> dict[str, list[str]]:
    """py-spy on `servers` (up, and the web app alone when running), one URL at a time."""
    py_spy = find_py_spy(args.py_spy)
    if py_spy is None:
        say("py-spy not found (--py-spy PATH, or `.venv/bin/pip install --target /tmp/pyspy "
            "py-spy`): no profile")
        return {}
    out_dir.mkdir(parents=True, exist_ok=True)
    summaries = {}
    for server in servers:
        for name, path in (("overview", OVERVIEW), ("summary", SUMMARY)):
            out = out_dir / f"{server.name.replace(' ', '-')}-{name}.txt"
            title = f"{server.name} {path}"
            say(f"profiling {title} with py-spy during {args.seconds:g} s")
            spy = record_pid(py_spy, server.child.pid, args.seconds, out)
            with only(server, everyone):
                measure(server, path, args, wrk_cpu, Series(f"{title} (profiled)"))
            _, errors = spy.communicate(timeout=args.seconds + 60)
            if not out.is_file():
                say(f"  py-spy wrote nothing: {errors.decode(errors='replace').strip()[:300]}")
                continue
            summaries[title] = summarize(out, groups=PROFILE_GROUPS)
    return summaries


# --- report -----------------------------------------------------------------------------------

def loadavg() -> str:
    """The 1, 5 and 15 min load averages: how busy the shared machine was."""
    return " ".join(Path("/proc/loadavg").read_text(encoding="ascii").split()[:3])


def _fmt(value: float | None, digits: int = 1) -> str:
    return "?" if value is None or value != value else f"{value:,.{digits}f}"


def report(results: dict[str, Series], args: argparse.Namespace, facts: dict[str, Any],
           summaries: dict[str, list[str]], threads: int, pinned: bool) -> None:
    ceiling = results["hello"].median("rate")
    hello_per_cpu = results["hello"].per_cpu()
    say("\n| server and URL | req/s per round | median req/s | / hello | p50 ms | p99 ms "
        "| p99 ms worst | server CPU % | req per server CPU-s (/ hello) | listen overflows "
        "| errors |")
    say("|---|---|---|---|---|---|---|---|---|---|---|")
    for series in results.values():
        rate = series.median("rate")
        worst = max((r.p99_ms for r in series.runs if r.p99_ms is not None), default=None)
        cpu = statistics.median(c / r.seconds * 100 for c, r in
                                zip(series.cpu, series.runs, strict=True))
        say(f"| {series.label} | {' / '.join(f'{r.rate:,.0f}' for r in series.runs)} "
            f"| {rate:,.0f} | {rate / ceiling:.2f} | {_fmt(series.median('p50_ms'))} "
            f"| {_fmt(series.median('p99_ms'))} | {_fmt(worst)} | {cpu:.0f} "
            f"| {series.per_cpu():,.0f} ({series.per_cpu() / hello_per_cpu:.2f}) "
            f"| {statistics.median(series.overflows):,.0f} "
            f"| {sum(r.errors for r in series.runs)} |")
    say("")
    for key in (k for k in TARGETED if k in results):
        ratio = results[key].median("rate") / ceiling
        p99 = results[key].median("p99_ms")
        # wrk leaves timed-out requests out of its latency figures (a run where every request
        # timed out prints p99 0): a run with errors meets no target.
        errors = sum(r.errors for r in results[key].runs)
        clean = errors == 0
        say(f"{key}/hello = {ratio:.2f} (target ≥ {TARGET_RATIO:.2f}: "
            f"{'met' if clean and ratio >= TARGET_RATIO else 'MISSED'}); p99 {_fmt(p99)} ms "
            f"(target < {TARGET_P99_MS:g} ms: "
            f"{'met' if clean and p99 is not None and p99 < TARGET_P99_MS else 'MISSED'})"
            + ("" if clean else f"; {errors} errors or timeouts"))
    say(f"\nload average at the end: {loadavg()} (start: {facts['load_start']})")
    say(f"wrk -t{args.threads} -c{args.connections} -d{args.seconds:g}s --latency, "
        f"{args.rounds} rounds, the other servers SIGSTOPped while one is measured; server "
        f"threads {threads}; {'servers on CPU 0, wrk on CPU 1' if pinned else 'unpinned'}")
    say(f"up: port open after {facts['port_s']:.1f} s, static copy served after a further "
        f"{facts['static_s']:.1f} s; idle CPU {facts['idle_cpu'] * 100:.0f} % of a core "
        f"(probes every {args.interval} s); page still static after: "
        f"{facts['static_after']}; web process serves the page from the static copy: "
        f"{facts['web_static']}; {facts['checks']:,} checks stored; SIGTERM → exit "
        f"{facts['exit']} in {facts['stop_s']:.1f} s")
    say("before the rounds (status, from the static copy, Content-Encoding, bytes):")
    for path in (OVERVIEW, PAGE, SUMMARY, STATIC):
        for encodings in ("", BROWSER_ENCODINGS):
            say(f"  {path} Accept-Encoding {encodings or '(none)'!r}: "
                f"{facts[path + ' ' + encodings]}")
    for title, lines in summaries.items():
        say(f"\nprofile of {title}:\n")
        for line in lines:
            say(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--interval", type=int, default=5, help="BELLWETHER_PROBE_INTERVAL_S")
    parser.add_argument("--web-threads", type=int, default=0,
                        help="BELLWETHER_SERVER_THREADS of every server (default: the setting's)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin servers and wrk")
    parser.add_argument("--set", action="append", default=[], metavar="BELLWETHER_X=VALUE",
                        help="a setting of up (and the web process) away from the defaults, "
                             "repeatable, e.g. BELLWETHER_PROBE_PROCESSES=2")
    parser.add_argument("--no-what-if", action="store_true",
                        help="only hello, up and the web process")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy the up and web processes")
    parser.add_argument("--profile-dir", default="", help="keep py-spy's raw stacks here")
    parser.add_argument("--py-spy", default=None, help="path of the py-spy binary")
    parser.add_argument("--serve", choices=("hello", "web"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--server-threads", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.server_threads)
        return
    if not 1 <= args.rounds <= 20 or not 1 <= args.seconds <= 120:
        sys.exit("--rounds must be 1..20 and --seconds 1..120")
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BELLWETHER_")}
    threads = args.web_threads or load_settings(env).server_threads
    server_cpu, wrk_cpu = (None, None) if args.no_pin else client_and_server_cpus()
    results, facts, summaries = run_everything(args, threads, server_cpu, wrk_cpu)
    report(results, args, facts, summaries, threads, server_cpu is not None)


if __name__ == "__main__":
    main()
