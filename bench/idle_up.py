"""What an idle `bellwether up` costs at the DEFAULT settings: CPU over a window, and CPU per
check all-in (everything the process spent, divided by the checks it stored meanwhile).

Run: `.venv/bin/python bench/idle_up.py [--minutes 10] [--warm-up-s 90] [--profile]`.

Starts `.venv/bin/python app.py up` in a temporary data directory (embedded SQLite) with
every other BELLWETHER_* variable dropped, so the defaults are measured (3 regions × 8
components at 30 s from 3 locations: about 2.7 checks a second, plus the shop transaction).
After the warm-up (start-up, the first rollups and publish) it reads the process's user +
system CPU from /proc and the count of stored checks at the start and the end of the window;
nothing else talks to the process meanwhile. `--profile` also records the window with
py-spy (if installed: `.venv/bin/pip install py-spy`) and prints the functions that took the
most samples, so a remaining cost can be named.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import contextlib

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

TOKEN = "bench-idle-admin-token-0123456789"


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
    spy = shutil.which("py-spy") or str(ROOT / ".venv" / "bin" / "py-spy")
    if not Path(spy).exists():
        say("py-spy is not installed: no profile (`.venv/bin/pip install py-spy`)")
        return None
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(seconds),
                             "--rate", "50", "--format", "raw", "--output", str(out),
                             "--nonblocking", "--idle"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


#: Leaf frames of threads that wait (py-spy's --idle records them too).
WAITING = ("Condition.wait (threading.py", "EpollSelector.select (selectors.py",
           "_worker (concurrent/futures/thread.py:81)")
#: Bellwether's own code, as py-spy names its files (relative to the working directory).
OURS = ("core/", "commerce/", "probes/", "status/", "alerts/", "reports/", "sla/", "drills/",
        "app.py")


def top_functions(raw: Path, count: int = 15) -> list[tuple[str, float]]:
    """Bellwether's frames present in the most busy samples (inclusive), from py-spy's raw
    output: one line per stack `frame;frame;... samples`, a frame `name (file:line)`.
    Stacks whose leaf waits are dropped."""
    totals: dict[str, int] = {}
    busy = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, samples = line.rpartition(" ")
        frames = stack.split(";")
        if not frames or frames[-1].startswith(WAITING):
            continue
        n = int(samples)
        busy += n
        for frame in set(frames):
            name, _, where = frame.partition(" (")
            if where.startswith(OURS):
                key = f"{name} ({where.split(':', 1)[0]})"
                totals[key] = totals.get(key, 0) + n
    ranked = sorted(totals.items(), key=lambda item: -item[1])
    return [(frame, 100.0 * n / busy) for frame, n in ranked[:count]] if busy else []


def main() -> None:
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--warm-up-s", type=float, default=90.0)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-out", type=Path, default=None,
                        help="keep py-spy's raw output here (else in the temporary dir)")
    args = parser.parse_args()
    window = args.minutes * 60
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bw-bench-idle-") as tmp:
        data_dir = Path(tmp)
        env = up_env(data_dir, port, BELLWETHER_ADMIN_TOKEN=TOKEN)
        say(f"bellwether up at the defaults: port {port}, data dir {data_dir}; warm-up "
            f"{args.warm_up_s:g} s, then {args.minutes:g} min idle")
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
                spy.wait(timeout=120)
            up.stop(timeout=60)
            cpu, checks, wall = cpu1 - cpu0, checks1 - checks0, wall1 - wall0
            say(f"window {wall:.0f} s: CPU {cpu:.1f} s = {100 * cpu / wall:.2f} % of a core; "
                f"{checks} checks stored ({checks / wall:.2f}/s); "
                f"{1000 * cpu / max(checks, 1):.1f} ms CPU per check all-in")
            if spy is not None and raw.exists():
                say("busy samples by frame (inclusive, Bellwether's own code):")
                for frame, share in top_functions(raw):
                    say(f"  {share:5.1f} %  {frame}")


if __name__ == "__main__":
    main()
