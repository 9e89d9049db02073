"""Peak memory of `bellwether up`: the whole embedded set with the default probe catalogue.

Run: `.venv/bin/python bench/up_memory.py [--seconds 60] [--interval 5]`.

Starts `.venv/bin/python app.py up` with a temporary BELLWETHER_DATA_DIR (embedded SQLite),
a free BELLWETHER_HTTP_PORT and BELLWETHER_PROBE_INTERVAL_S (5 s by default), samples
/proc/<pid>/status (VmRSS, VmHWM) and its CPU time every second for `--seconds` once the
web port answers, then sends SIGTERM and waits for it to exit. It also counts the checks
stored, so the figure is that of a set really probing. Any other BELLWETHER_* variable in
the environment is dropped, so the defaults are measured.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
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
    peak_rss_mb,
    process_cpu_seconds,
    say,
    up_env,
    wait_for_port,
)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def stored_checks(data_dir: Path) -> tuple[int, int]:
    """(checks stored, of which failed), read after the process has stopped."""
    path = data_dir / "bellwether.sqlite"
    if not path.exists():
        return 0, 0
    with sqlite3.connect(path) as conn:
        total, failed = conn.execute(
            "SELECT count(*), coalesce(sum(CASE WHEN ok THEN 0 ELSE 1 END), 0) "
            "FROM probe_checks").fetchone()
    return int(total), int(failed)


def main() -> None:
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=int, default=5, help="BELLWETHER_PROBE_INTERVAL_S")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bw-bench-up-") as tmp:
        data_dir = Path(tmp)
        env = up_env(data_dir, port, BELLWETHER_PROBE_INTERVAL_S=str(args.interval))
        say(f"bellwether up: port {port}, data dir {data_dir}, probe interval "
            f"{args.interval} s, {args.seconds:g} s sampled")
        launched = time.perf_counter()
        with Child([PYTHON, str(ROOT / "app.py"), "up"], env=env) as up:
            wait_for_port(port, timeout=120)
            ready = time.perf_counter() - launched
            samples: list[tuple[float, float, float, int]] = []  # (s, rss, hwm, threads)
            cpu_at_ready = process_cpu_seconds(up.pid)
            began = time.perf_counter()
            while (elapsed := time.perf_counter() - began) < args.seconds:
                if up.process.poll() is not None:
                    sys.exit(f"bellwether up exited early with {up.process.returncode}")
                samples.append((elapsed, rss_mb(up.pid), peak_rss_mb(up.pid),
                                thread_count(up.pid)))
                time.sleep(1.0)
            peak = peak_rss_mb(up.pid)
            cpu = process_cpu_seconds(up.pid) - cpu_at_ready
            window = time.perf_counter() - began
            stopping = time.perf_counter()
            code = up.stop(timeout=60)
            stop_s = time.perf_counter() - stopping
        total, failed = stored_checks(data_dir)
    say("\n| at s | VmRSS MiB | VmHWM MiB | threads |")
    say("|---|---|---|---|")
    for index, (at, rss, hwm, threads) in enumerate(samples):
        if index % 10 == 0 or index == len(samples) - 1:
            say(f"| {at:.0f} | {rss:.1f} | {hwm:.1f} | {threads} |")
    say(f"\nPeak RSS (VmHWM) over the run: **{peak:.1f} MiB**; ready (web port answering) "
        f"after {ready:.1f} s; CPU {cpu / window * 100:.0f} % of one core while sampled; "
        f"{total:,} checks stored ({failed} failed); SIGTERM → exit {code} in {stop_s:.1f} s")


if __name__ == "__main__":
    main()
