"""Benchmark `bellwether sla compute` on a full month: 30 pairs × 3 locations × 30 s checks.

Run: `.venv/bin/python bench/sla_compute.py [--runs N] [--keep DIR]`. It writes the checks
file (about 8 million lines, 1 GB) to a temporary directory, runs the command as a child
process `--runs` times, and prints wall time and peak RSS of each run, their median, a floor
(a child that only reads the file's lines) and a reference (a child that only runs
`json.loads` on every line: what the parse alone would cost without the fast path).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MONTH = "2026-10"
MONTH_START = datetime(2026, 10, 1, tzinfo=UTC)
MONTH_SECONDS = 31 * 24 * 3600
INTERVAL_S = 30
COMPONENTS = ("auth", "products", "carts", "orders", "search", "messages", "audit-log",
              "import", "inventory", "payments")
REGIONS = ("europe-west1.gcp", "us-central1.gcp", "australia-southeast1.gcp")
LOCATIONS = ("loc-a", "loc-b", "loc-c")
TARGET_SECONDS = 60.0
TARGET_RSS_MB = 300.0


@dataclass(frozen=True)
class Outage:
    """Failing checks of some locations of one pair, from `start_s` for `length_s`."""

    pair: int
    locations: tuple[str, ...]
    start_s: int
    length_s: int


OUTAGES = (
    Outage(0, ("loc-a", "loc-b"), 4 * 86400 + 3 * 3600, 25 * 60),  # majority: 25 min down
    Outage(1, ("loc-c",), 9 * 86400, 2 * 3600),  # a partition: no downtime
    Outage(2, LOCATIONS, 14 * 86400 + 12 * 3600, 3 * 3600),  # everyone: 3 h down
    Outage(3, LOCATIONS, MONTH_SECONDS - 600, 600),  # a run still open at the month's end
)

# What the month's lines must show: downtime by pair, only where a majority failed.
EXPECTED_DOWNTIME = {0: 25, 2: 180, 3: 10}

# Each series' line up to its `at`, in series order: (pair index, location, prefix).
SERIES = [
    (pair, location, f'{{"component": "{component}", "region": "{region}", '
                     f'"location": "{location}", "at": "')
    for pair, (component, region) in enumerate((c, r) for c in COMPONENTS for r in REGIONS)
    for location in LOCATIONS
]


def _lines_for_second(second: int, at: str, rng: random.Random) -> list[str]:
    failing = {(o.pair, location) for o in OUTAGES
               if o.start_s <= second < o.start_s + o.length_s for location in o.locations}
    lines = []
    for pair, location, prefix in SERIES:
        if (pair, location) in failing or rng.random() < 0.001:  # blips: never downtime alone
            lines.append(f'{prefix}{at}", "ok": false, "latency_ms": 5000}}\n')
        else:
            lines.append(f'{prefix}{at}", "ok": true, "latency_ms": {40 + rng.randrange(60)}}}\n')
    return lines


def write_checks(path: Path, seed: int = 7) -> int:
    """Write the month's checks, each hour's lines shuffled (arrival is never in order)."""
    rng = random.Random(seed)
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for hour_start in range(0, MONTH_SECONDS, 3600):
            hour: list[str] = []
            for second in range(hour_start, hour_start + 3600, INTERVAL_S):
                at = (MONTH_START + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%SZ")
                hour.extend(_lines_for_second(second, at, rng))
            rng.shuffle(hour)
            out.writelines(hour)
            count += len(hour)
    return count


def run_child(args: list[str], scratch: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one child process, from its own rusage (wait4)."""
    with (scratch / "stdout").open("wb") as out, (scratch / "stderr").open("wb") as err:
        started = time.perf_counter()
        child = subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        message = (scratch / "stderr").read_text(encoding="utf-8", errors="replace")
        sys.exit(f"{args[:4]} failed ({child.returncode}): {message[-2000:]}")
    return wall, usage.ru_maxrss / 1024  # Linux reports kilobytes


def check_output(stdout: Path) -> None:
    """Stop if the command's figures are not the outages the file was written with."""
    lines = json.loads(stdout.read_text(encoding="utf-8"))["lines"]
    pairs = [(c, r) for c in COMPONENTS for r in REGIONS]
    got = {pairs.index((line["component"], line["region"])): line["downtime_minutes"]
           for line in lines}
    wanted = {pair: EXPECTED_DOWNTIME.get(pair, 0) for pair in range(len(pairs))}
    if got != wanted:
        sys.exit(f"wrong downtime: {got} != {wanted}")


READ_ONLY = "import sys\nn = 0\nfor _ in open(sys.argv[1], 'rb'):\n    n += 1\nprint(n)\n"
JSON_ONLY = ("import json, sys\nn = 0\nfor line in open(sys.argv[1], 'rb'):\n"
             "    n += len(json.loads(line))\nprint(n)\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="write the checks file here and keep it")
    options = parser.parse_args()
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}")
    with tempfile.TemporaryDirectory() as scratch:
        folder = options.keep or Path(scratch)
        checks = folder / "checks.jsonl"
        started = time.perf_counter()
        lines = write_checks(checks)
        print(f"wrote {lines:,} lines, {checks.stat().st_size / 1e9:.2f} GB "
              f"in {time.perf_counter() - started:.1f} s")
        floor_wall, floor_rss = run_child([sys.executable, "-c", READ_ONLY, str(checks)], folder)
        print(f"floor (read lines only): {floor_wall:.1f} s, {floor_rss:.0f} MB")
        json_wall, _ = run_child([sys.executable, "-c", JSON_ONLY, str(checks)], folder)
        print(f"reference (json.loads every line, nothing else): {json_wall:.1f} s")
        command = [sys.executable, "app.py", "sla", "compute", "--checks", str(checks),
                   "--month", MONTH]
        results = []
        for run in range(1, options.runs + 1):
            wall, rss = run_child(command, folder)
            results.append((wall, rss))
            check_output(folder / "stdout")
            print(f"run {run}: {wall:.1f} s, peak RSS {rss:.0f} MB")
        print("output checked: downtime only for the majority outages (25, 180, 10 minutes)")
        median_wall = statistics.median(wall for wall, _ in results)
        print(f"median {median_wall:.1f} s ({median_wall / floor_wall:.1f}× the floor; "
              f"target < {TARGET_SECONDS:.0f} s), peak RSS {max(r for _, r in results):.0f} MB "
              f"(target < {TARGET_RSS_MB:.0f} MB)")


if __name__ == "__main__":
    main()
