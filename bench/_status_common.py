"""Helpers of the status-page and fan-out benchmarks: `wrk` runs and py-spy profiles.

py-spy is not a dependency of Bellwether: `--profile` looks for it on PATH, in the venv, or
where `--py-spy` says (`.venv/bin/pip install --target /tmp/pyspy py-spy` keeps it out of
the venv). Profiles are sampled with `--gil` (only the thread holding the GIL), so they
say where the interpreter's time goes, and `--nolineno`, so frames add up per function.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench._common import ROOT

WRK_LINE = re.compile(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b")


@dataclass(frozen=True)
class WrkRun:
    """One `wrk --latency` run."""

    requests: int
    seconds: float
    rate: float
    p50_ms: float | None
    p99_ms: float | None
    errors: int  # socket errors (connect, read, write, timeout) and non-2xx/3xx answers
    output: str


def _ms(out: str, label: str) -> float | None:
    found = re.search(rf"^\s*{re.escape(label)}\s+([\d.]+)(us|ms|s|m)\s*$", out, re.MULTILINE)
    if found is None:
        return None
    return float(found[1]) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[found[2]]


def parse_wrk(out: str) -> WrkRun:
    total = WRK_LINE.search(out)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if total is None or rate is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    unit = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[total[3]]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                        out)
    errors = (int(bad[1]) if bad else 0) + (sum(int(g) for g in sockets.groups())
                                            if sockets else 0)
    return WrkRun(int(total[1]), float(total[2]) * unit, float(rate[1]), _ms(out, "50%"),
                  _ms(out, "99%"), errors, out)


def run_wrk(url: str, seconds: float, connections: int, threads: int,
            preexec: Callable[[], None] | None = None, headers: Sequence[str] = ()) -> WrkRun:
    """`wrk -t threads -c connections -d seconds --latency [-H header]… url` (keep-alive,
    like browsers; wrk sends no Accept-Encoding unless a header says so)."""
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "5s",
            "--latency", *(part for header in headers for part in ("-H", header)), url]
    done = subprocess.run(argv, capture_output=True, text=True, check=True,
                          timeout=seconds + 60, preexec_fn=preexec)
    return parse_wrk(done.stdout)


def find_py_spy(explicit: str | None) -> str | None:
    for candidate in (explicit, shutil.which("py-spy"), str(ROOT / ".venv" / "bin" / "py-spy"),
                      "/tmp/pyspy/bin/py-spy"):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def py_spy_argv(py_spy: str, out: Path, rate: int = 100) -> list[str]:
    """`py-spy record` options for collapsed stacks per thread; add `--pid P --duration S`
    or `-- cmd`. 100 Hz: at 200 Hz py-spy fell behind on the loaded 2-core machine."""
    return [py_spy, "record", "--format", "raw", "--gil", "--nolineno", "--threads", "--rate",
            str(rate), "--output", str(out)]


def record_pid(py_spy: str, pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """Start sampling a running process for `seconds`; wait() on the result."""
    argv = [*py_spy_argv(py_spy, out), "--pid", str(pid), "--duration", f"{max(1, round(seconds))}"]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)  # let it attach before the load starts
    return process


def _frame(frame: str) -> str:
    """`name (path)` with the path shortened to the package-relative part."""
    found = re.match(r"^(.*) \((.*)\)$", frame)
    if found is None:
        return frame
    name, path = found[1], found[2]
    for marker in ("site-packages/", "/lib/python3.11/", str(ROOT) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})"


def _group_of(stack: str, groups: Sequence[tuple[str, Sequence[str]]]) -> str | None:
    return next((name for name, markers in groups if any(m in stack for m in markers)), None)


def _parse(collapsed: Path) -> list[tuple[str, list[str], int]]:
    """(thread, frames, count) per line of py-spy's raw output."""
    parsed = []
    for line in collapsed.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        parts = stack.split(";")
        thread = parts[0] if parts[0].startswith("thread (") else ""
        frames = [_frame(f) for f in parts if f and not f.startswith(("process ", "thread "))]
        if frames:
            parsed.append((thread, frames, int(count_text)))
    return parsed


def summarize(collapsed: Path, top: int = 15,
              groups: Sequence[tuple[str, Sequence[str]]] = (),
              ignore: Sequence[str] = ("_bootstrap", "run (threading.py)")) -> list[str]:
    """Markdown lines: samples by group, then the functions with most samples on the stack
    (inclusive) and at the top of it (self), as shares of all samples.

    A stack's group is the first of `groups` with a marker in it; a stack with none (a
    server thread between requests, say) takes the group its thread has most often.
    """
    parsed = _parse(collapsed)
    by_thread: dict[str, Counter[str]] = {}
    for thread, frames, count in parsed:
        group = _group_of(";".join(frames), groups)
        if group is not None:
            by_thread.setdefault(thread, Counter())[group] += count
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    grouped: Counter[str] = Counter()
    total = 0
    for thread, frames, count in parsed:
        total += count
        group = _group_of(";".join(frames), groups)
        if group is None and thread in by_thread:
            group = by_thread[thread].most_common(1)[0][0]
        grouped[group or "other"] += count
        own[frames[-1]] += count
        for name in set(frames):
            if not any(word in name for word in ignore):
                inclusive[name] += count
    if total == 0:
        return ["(no samples)"]
    lines = [f"{total:,} samples of the thread holding the GIL", ""]
    if groups:
        lines += ["| share | where |", "|---|---|"]
        lines += [f"| {n / total * 100:.1f} % | {name} |" for name, n in grouped.most_common()]
        lines += [""]
    lines += ["| inclusive | function |", "|---|---|"]
    lines += [f"| {n / total * 100:.1f} % | `{name}` |" for name, n in inclusive.most_common(top)]
    lines += ["", "| self | function |", "|---|---|"]
    lines += [f"| {n / total * 100:.1f} % | `{name}` |" for name, n in own.most_common(top)]
    return lines
