"""What an idle `bellwether up` costs at the DEFAULT settings: CPU over a window, and CPU per
check all-in (everything the process spent, divided by the checks it stored meanwhile).

Run: `.venv/bin/python bench/idle_up.py [--minutes 10] [--warm-up-s 90] [--profile]`.

Starts `.venv/bin/python app.py up` in a temporary data directory (embedded SQLite) with
every other BELLWETHER_* variable dropped, so the defaults are measured (3 regions × 8
components at 30 s from 3 locations: about 2.7 checks a second, plus the shop transaction).
After the warm-up (start-up, the first rollups and publish) it reads the process's user +
system CPU from /proc and the count of stored checks at the start and the end of the window;
nothing else talks to the process meanwhile. `--profile` also records the window with
py-spy (not a dependency: `.venv/bin/pip install --target /tmp/pyspy py-spy` is found
there), on-CPU threads only, and prints the CPU per area (each job, the scheduler, the check
writer, the commerce set, the probe runner) as a share and as ms per check, then
Bellwether's busiest frames, so a remaining cost can be named. `--set
BELLWETHER_X=VALUE` measures away from the defaults (e.g. 5 s probes).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (
    PYTHON,
    ROOT,
    Child,
    exit_on_sigterm,
    free_port,
    process_cpu_seconds,
    say,
    up_env,
    wait_for_port,
)
from bench._status_common import _parse as parse_stacks
from bench._status_common import find_py_spy

TOKEN = "bench-idle-admin-token-0123456789"


def loadavg() -> str:
    """The 1, 5 and 15 min load averages: how busy the shared machine was."""
    return " ".join(Path("/proc/loadavg").read_text(encoding="ascii").split()[:3])


def stored_checks(db: Path) -> int:
    with sqlite3.connect(db, timeout=30) as conn:
        return int(conn.execute("SELECT count(*) FROM probe_checks").fetchone()[0])


def tree_cpu_seconds(pid: int) -> float:
    """CPU of the process and of any children it started (there are none today, but a
    child would be part of what `up` costs)."""
    total = process_cpu_seconds(pid)
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        for child in children.read_text(encoding="ascii").split():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                total += tree_cpu_seconds(int(child))
    return total


def profile(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy on `pid` for `seconds`: on-CPU threads only (no --idle: a thread blocked in a
    socket read or a condition wait costs no CPU), one line per thread and stack."""
    spy = find_py_spy(None)
    if spy is None:
        say("py-spy is not installed: no profile (`.venv/bin/pip install --target /tmp/pyspy "
            "py-spy`)")
        return None
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(seconds),
                             "--rate", "50", "--format", "raw", "--output", str(out),
                             "--nonblocking", "--nolineno", "--threads"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def finish(spy: subprocess.Popen[bytes]) -> None:
    """Let py-spy write its output. It falls behind its --duration on a loaded machine;
    SIGINT makes it stop sampling and write what it has."""
    try:
        spy.wait(timeout=30)
    except subprocess.TimeoutExpired:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(timeout=60)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait(10)


#: Where an on-CPU stack belongs: the first area with a marker among its frames. Jobs are
#: matched by their job function, so a job's SQLAlchemy and SQLite time is its own.
AREAS = (
    ("rollup job (probes.rollup)", ("roll_up_minutes (",)),
    ("evaluation job (probes.evaluate)", ("evaluate_states (",)),
    ("incident job (status.incidents)", ("track_incidents (",)),
    ("publish job (status.publish)", ("publish_site (",)),
    ("burn-rate job (reports.burn_rates)", ("evaluate_burn_rates (",)),
    ("outbox jobs (alerts.pages, alerts.dispatch, alerts.pagerduty_followup)",
     ("page_once (", "dispatch_once (", "follow_up_pagerduty (")),
    ("maintenance notices job", ("maintenance_notices (",)),
    ("TLS job (probes.tls)", ("watch_certificates (",)),
    ("other jobs", ("_guarded.<locals>.run (",)),
    ("check writer (probes.writer)", ("probes/writer.py",)),
    ("commerce set answering the probes (routers, zones, cheroot)",
     ("commerce/proxy.py", "commerce/zone", "commerce/api", "commerce/metrics.py",
      "cheroot/")),
    ("commerce fleet loops (worker, faults, health)", ("commerce/fleet.py",)),
    ("probe scheduler and runner (asyncio, httpx)",
     ("probes/", "asyncio/", "httpx/", "run_coroutine_job")),
    ("job scheduler between jobs (APScheduler, its thread pool)",
     ("apscheduler/", "concurrent/futures/")),
)
#: Leaf frames of a thread that waits: py-spy samples a thread that has just been woken
#: (runnable, not yet running) as active, above all on a loaded machine.
WAITING = ("EpollSelector.select (", "Condition.wait (", "Event.wait (", "_worker (",
           "socket.accept (", "Thread._wait_for_tstate_lock (")
#: Bellwether's own code, as py-spy names its files (relative to the working directory).
OURS = ("core/", "commerce/", "probes/", "status/", "alerts/", "reports/", "sla/", "drills/",
        "app.py")


def busy_stacks(raw: Path) -> list[tuple[str, list[str], int]]:
    """py-spy's stacks (thread, frames, samples) but those of waiting threads."""
    return [(thread, frames, n) for thread, frames, n in parse_stacks(raw)
            if not frames[-1].startswith(WAITING)]


def areas(raw: Path) -> tuple[int, list[tuple[str, int]]]:
    """On-CPU samples in all, and per area of AREAS (else "other"), most first."""
    counts: dict[str, int] = {}
    total = 0
    for _thread, frames, count in busy_stacks(raw):
        joined = ";".join(frames)
        area = next((name for name, markers in AREAS if any(m in joined for m in markers)),
                    "other")
        counts[area] = counts.get(area, 0) + count
        total += count
    return total, sorted(counts.items(), key=lambda item: -item[1])


def top_functions(raw: Path, count: int = 20) -> list[tuple[str, float]]:
    """Bellwether's frames in the most on-CPU samples (inclusive), as % of all of them."""
    totals: dict[str, int] = {}
    total = 0
    for _thread, frames, n in busy_stacks(raw):
        total += n
        for frame in set(frames):
            if frame.rpartition(" (")[2].startswith(OURS):
                totals[frame] = totals.get(frame, 0) + n
    ranked = sorted(totals.items(), key=lambda item: -item[1])
    return [(frame, 100.0 * n / total) for frame, n in ranked[:count]] if total else []


def main() -> None:
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--warm-up-s", type=float, default=90.0)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-out", type=Path, default=None,
                        help="keep py-spy's raw output here (else in the temporary dir)")
    parser.add_argument("--set", action="append", default=[], metavar="BELLWETHER_X=VALUE",
                        help="a setting away from the defaults (repeatable), e.g. "
                             "BELLWETHER_PROBE_INTERVAL_S=5")
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.set)
    window = args.minutes * 60
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bw-bench-idle-") as tmp:
        data_dir = Path(tmp)
        env = up_env(data_dir, port, BELLWETHER_ADMIN_TOKEN=TOKEN, **extra)
        say(f"bellwether up at the defaults{' but ' + ', '.join(args.set) if args.set else ''}"
            f": port {port}, data dir {data_dir}; warm-up {args.warm_up_s:g} s, then "
            f"{args.minutes:g} min idle; load average {loadavg()}")
        with Child([PYTHON, str(ROOT / "app.py"), "up"], env=env) as up:
            wait_for_port(port, timeout=120)
            db = data_dir / "bellwether.sqlite"
            time.sleep(args.warm_up_s)
            if up.process.poll() is not None:
                sys.exit(f"bellwether up exited early with {up.process.returncode}")
            raw = args.profile_out or data_dir / "profile.txt"
            spy = profile(up.pid, int(window), raw) if args.profile else None
            cpu0, checks0, wall0 = tree_cpu_seconds(up.pid), stored_checks(db), \
                time.monotonic()
            time.sleep(window)
            cpu1, checks1, wall1 = tree_cpu_seconds(up.pid), stored_checks(db), \
                time.monotonic()
            if spy is not None:
                finish(spy)
            up.stop(timeout=60)
        cpu, checks, wall = cpu1 - cpu0, checks1 - checks0, wall1 - wall0
        per_check = 1000 * cpu / max(checks, 1)
        say(f"window {wall:.0f} s: CPU {cpu:.1f} s = {100 * cpu / wall:.2f} % of a core; "
            f"{checks} checks stored ({checks / wall:.2f}/s); {per_check:.1f} ms CPU per "
            f"check all-in; load average at the end {loadavg()}")
        if spy is not None and raw.exists():
            report_profile(raw, per_check)


def report_profile(raw: Path, per_check_ms: float) -> None:
    """Where the CPU went: on-CPU samples per area, as a share and as ms per check (the
    share of the measured CPU per check), then Bellwether's busiest frames."""
    total, counted = areas(raw)
    if not total:
        say("py-spy recorded no on-CPU samples")
        return
    say(f"\n{total:,} on-CPU samples (py-spy, 50 Hz, every thread)\n")
    say("| area | share | ms per check |")
    say("|---|---|---|")
    for area, n in counted:
        say(f"| {area} | {100 * n / total:.1f} % | {per_check_ms * n / total:.2f} |")
    say("\n| inclusive | Bellwether frame |")
    say("|---|---|")
    for frame, share in top_functions(raw):
        say(f"| {share:.1f} % | `{frame}` |")


if __name__ == "__main__":
    main()
