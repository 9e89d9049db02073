"""Run every benchmark, one after another: `.venv/bin/python bench/run_all.py`.

Each benchmark runs as its own child process with its default options and prints its own
tables (method and results: docs/benchmarks.md): the ones named in BENCHMARKS in that order,
then any other bench/*.py script (not a `_helper`, not run_all or target_server). `--only`
and `--skip` take benchmark names; `--list` shows them. The exit status is 1 when any
benchmark failed to run (never because a target was missed: benchmarks report, they do not
assert).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(ROOT / ".venv" / "bin" / "python")
#: In the order they run; a missing file (another engineer's, not there yet) is skipped.
BENCHMARKS = ("runner_throughput", "scheduler_lag", "ingest_rollup", "up_memory",
              "sla_compute", "sla_reports", "status_page", "fanout", "pages_first", "chaos",
              "soak_up", "idle_up", "detection", "scale_run")
#: Scripts in bench/ that are not benchmarks (helpers start with "_").
NOT_BENCHMARKS = ("run_all", "target_server")


def all_benchmarks() -> list[str]:
    """The known benchmarks, then any other bench/*.py script, by name."""
    found = sorted(path.stem for path in (ROOT / "bench").glob("*.py")
                   if not path.stem.startswith("_") and path.stem not in NOT_BENCHMARKS)
    return [*BENCHMARKS, *(name for name in found if name not in BENCHMARKS)]


def _leave(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _leave)
    signal.signal(signal.SIGINT, _leave)
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--skip", default="", help="comma-separated benchmark names")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    benchmarks = all_benchmarks()
    only = {name for name in args.only.split(",") if name}
    skip = {name for name in args.skip.split(",") if name}
    unknown = (only | skip) - set(benchmarks)
    if unknown:
        sys.exit(f"unknown benchmark(s): {', '.join(sorted(unknown))}; "
                 f"known: {', '.join(benchmarks)}")
    chosen = [name for name in benchmarks
              if (not only or name in only) and name not in skip]
    if args.list:
        print("\n".join(benchmarks))
        return
    failures = []
    for name in chosen:
        script = ROOT / "bench" / f"{name}.py"
        if not script.exists():
            print(f"\n=== {name}: {script} is missing, skipped", flush=True)
            continue
        print(f"\n=== {name}", flush=True)
        began = time.perf_counter()
        child = subprocess.Popen([PYTHON, str(script)], cwd=ROOT)
        try:
            code = child.wait()
        finally:
            if child.poll() is None:  # we are stopping: stop the benchmark (it cleans up)
                child.terminate()
                child.wait(60)
        print(f"=== {name}: exit {code} after {time.perf_counter() - began:.0f} s", flush=True)
        if code:
            failures.append(name)
    if failures:
        print(f"\nfailed to run: {', '.join(failures)}", flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
