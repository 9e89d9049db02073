"""Soak of `bellwether up` on SQLite at 1 s probes, with faults injected through the API.

Run: `.venv/bin/python bench/soak_up.py [--minutes 60] [--fault-every 5] [--interval 1]`.

Starts `app.py up` (temporary data dir, free port, BELLWETHER_PROBE_INTERVAL_S=1, every other
BELLWETHER_* variable dropped) through a small wrapper that sends the process's stderr and
log warnings to a file, logs the `bellwether.db.lock` holds past core.db.SLOW_HOLD_MS, and
writes core.db.lock_holds() (each job's and request's write transactions: count, longest
hold, holds over 100 ms, longest wait for the lock) to a JSON file every 5 s. Then:

- every `--fault-every` minutes a fault through the API, cycling region_down, service_down,
  error_rate and auth_down, cleared through the API after 60 s (two timed writes each);
- every 2 s an incident update through the API on one declared incident (a timed write);
- every 5 s the RSS of the process from /proc.

At the end: RSS over time and whether it levelled off (the mean of each fault period, and
the growth over the second half), API write latency p50/p99/max (and any answer but 2xx),
lock errors ("database is locked" lines in the log, 503 database_busy answers, any answer
naming a locked database), the longest a web request waited for a write lock, and the
write-lock figures per holder (`commerce: …` holders are the commerce set's own SQLite
file, the others Bellwether's). Every fault period a progress line gives the same figures
so far, so the first minutes of the 1-hour run read as the short soak.

The 1-hour soak of issue 15 is the default (`--minutes 60 --fault-every 5 --interval 1`);
`--minutes 5 --fault-every 1` is the short soak the write-lock sections compare.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (
    PYTHON,
    ROOT,
    Child,
    exit_on_sigterm,
    free_port,
    percentile,
    say,
    up_env,
    wait_for_port,
)

REGION = "us-central1.gcp"
FAULTS = ({"kind": "region_down", "region": REGION},
          {"kind": "service_down", "region": REGION, "service": "search"},
          {"kind": "error_rate", "region": REGION, "service": "orders", "value": 0.5},
          {"kind": "auth_down", "region": REGION})
FAULT_S = 60.0
UPDATE_EVERY_S = 2.0
RSS_EVERY_S = 5.0

#: Run inside the child: logging to files, lock figures dumped, then `app.py up`.
WRAPPER = """
import json, logging, os, runpy, sys, threading, time
root, log_path, holds_path = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, root)
fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
os.dup2(fd, 2)
handler = logging.StreamHandler(sys.stderr)
handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
logging.getLogger().addHandler(handler)
logging.getLogger().setLevel(logging.WARNING)
logging.getLogger("bellwether.db.lock").setLevel(logging.DEBUG)
import core.db as db

def dump():
    while True:
        time.sleep(5)
        holds = getattr(db, "lock_holds", dict)()
        rows = {name: {"count": h.count, "total_ms": h.total_ms, "max_ms": h.max_ms,
                       "over_100ms": h.over_100ms, "max_wait_ms": h.max_wait_ms}
                for name, h in holds.items()}
        with open(holds_path + ".part", "w") as out:
            json.dump(rows, out)
        os.replace(holds_path + ".part", holds_path)

threading.Thread(target=dump, daemon=True, name="soak-dump").start()
sys.argv = [os.path.join(root, "app.py"), "up"]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


class Api:
    """Timed JSON calls to the web app with the admin token."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token
        self.timings: dict[str, list[float]] = {}
        self.refused: list[tuple[str, int, str]] = []

    def call(self, label: str, method: str, path: str, body: dict[str, Any] | None = None,
             ) -> dict[str, Any] | None:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path, data=data, method=method,
            headers={"Authorization": f"Bearer {self.token}",
                     "Content-Type": "application/json"})
        began = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                answer: dict[str, Any] | None = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace").strip()
            self.refused.append((label, exc.code, text[:200]))
            answer = None
        self.timings.setdefault(label, []).append((time.perf_counter() - began) * 1000)
        return answer


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def lock_errors(api: Api, log_text: str) -> tuple[int, int, int]:
    """("database is locked" log lines, 503 database_busy answers, answers naming a lock)."""
    locked = sum("database is locked" in line for line in log_text.splitlines())
    busy = sum(code == 503 and "database_busy" in body for _, code, body in api.refused)
    named = sum("locked" in body.lower() for _, _, body in api.refused)
    return locked, busy, named


def web_wait_ms(holds: dict[str, dict[str, float]]) -> float:
    """The longest a web request waited for a write lock (either file)."""
    return max((h["max_wait_ms"] for name, h in holds.items()
                if name.removeprefix("commerce: ").startswith("web ")), default=float("nan"))


def read_holds(path: Path) -> dict[str, dict[str, float]]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def progress(api: Api, at: float, rss: float, log_path: Path, holds_path: Path) -> None:
    every = [v for values in api.timings.values() for v in values]
    log_text = log_path.read_text(errors="replace") if log_path.exists() else ""
    locked, busy, named = lock_errors(api, log_text)
    say(f"[{at / 60:5.1f} min] RSS {rss:.1f} MiB; API writes {len(every)}, "
        f"p50 {percentile(every, 0.5):.0f} ms, p99 {percentile(every, 0.99):.0f} ms, "
        f"max {max(every, default=float('nan')):.0f} ms; longest web wait for the lock "
        f"{web_wait_ms(read_holds(holds_path)):.0f} ms; lock errors: log {locked}, "
        f"503 busy {busy}, answers naming a lock {named}")


def soak(api: Api, pid: int, seconds: float, fault_every_s: float, alive: Any,
         on_period: Any = None) -> list[tuple[float, float]]:
    """Drive the writes for `seconds`; the RSS samples (s, MiB)."""
    incident = api.call("incident declare", "POST", "/api/v1/incidents", {
        "title": "Soak: API write latency", "impact": "minor",
        "message": "bench/soak_up.py posts an update every 2 s"})
    incident_id = incident["id"] if incident else None
    began = time.perf_counter()
    next_fault, next_update, next_rss = 0.0, 0.0, 0.0
    active: tuple[float, int, str] | None = None  # (cleared at, fault id, kind)
    samples: list[tuple[float, float]] = []
    cycle = 0
    while (now := time.perf_counter() - began) < seconds:
        if not alive():
            sys.exit("bellwether up exited during the soak")
        if active is None and now >= next_fault:
            if on_period is not None and cycle:
                on_period(now, samples[-1][1] if samples else float("nan"))
            spec = FAULTS[cycle % len(FAULTS)]
            cycle += 1
            made = api.call("fault inject", "POST", "/api/v1/faults", spec)
            if made:
                active = (now + FAULT_S, int(made["id"]), str(spec["kind"]))
            next_fault += fault_every_s
        if active is not None and now >= active[0]:
            api.call("fault clear", "DELETE", f"/api/v1/faults/{active[1]}")
            active = None
        if incident_id is not None and now >= next_update:
            api.call("incident update", "POST", f"/api/v1/incidents/{incident_id}/updates",
                     {"status": "monitoring", "body": f"still soaking at {now:.0f} s"})
            next_update += UPDATE_EVERY_S
        if now >= next_rss:
            samples.append((now, rss_mb(pid)))
            next_rss += RSS_EVERY_S
        time.sleep(0.1)
    if active is not None:
        api.call("fault clear", "DELETE", f"/api/v1/faults/{active[1]}")
    return samples


def grouped(holds: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Server threads summed into one row (each request thread is its own holder)."""
    rows: dict[str, dict[str, float]] = {}
    for name, h in holds.items():
        key = re.sub(r"(CP Server Thread|waitress)-\d+", r"\1-*", name)
        row = rows.setdefault(key, dict.fromkeys(h, 0.0))
        row["count"] += h["count"]
        row["total_ms"] += h["total_ms"]
        row["over_100ms"] += h["over_100ms"]
        row["max_ms"] = max(row["max_ms"], h["max_ms"])
        row["max_wait_ms"] = max(row["max_wait_ms"], h["max_wait_ms"])
    return rows


def rss_levels(samples: list[tuple[float, float]], period_s: float,
               ) -> list[tuple[float, float, float]]:
    """(period start in min, mean MiB, max MiB) of each period of `period_s`."""
    periods: dict[int, list[float]] = {}
    for at, rss in samples:
        periods.setdefault(int(at // period_s), []).append(rss)
    return [(index * period_s / 60, sum(v) / len(v), max(v))
            for index, v in sorted(periods.items())]


def report(api: Api, samples: list[tuple[float, float]], log_text: str,
           holds: dict[str, dict[str, float]], period_s: float = 60.0) -> None:
    say("\n| from min | mean VmRSS MiB | max VmRSS MiB |")
    say("|---|---|---|")
    levels = rss_levels(samples, period_s)
    for start, mean, peak in levels:
        say(f"| {start:.0f} | {mean:.1f} | {peak:.1f} |")
    if len(levels) >= 4:
        half = levels[len(levels) // 2:]
        span = (half[-1][0] - half[0][0]) or 1.0
        say(f"RSS over the second half: {half[0][1]:.1f} -> {half[-1][1]:.1f} MiB "
            f"({(half[-1][1] - half[0][1]) / span * 10:+.2f} MiB per 10 min)")
    say("\n| API write | n | p50 ms | p99 ms | max ms |")
    say("|---|---|---|---|---|")
    every: list[float] = []
    for label, values in sorted(api.timings.items()):
        every += values
        say(f"| {label} | {len(values)} | {percentile(values, 0.5):.1f} | "
            f"{percentile(values, 0.99):.1f} | {max(values):.1f} |")
    say(f"| all | {len(every)} | {percentile(every, 0.5):.1f} | "
        f"{percentile(every, 0.99):.1f} | {max(every, default=float('nan')):.1f} |")
    say(f"\nAnswers other than 2xx: {len(api.refused)}"
        + "".join(f"\n- {label}: {code} {body}" for label, code, body in api.refused[:10]))
    locked, busy, named = lock_errors(api, log_text)
    say(f"Lock errors: {locked} log line(s) with \"database is locked\", {busy} answer(s) "
        f"503 database_busy, {named} answer(s) naming a locked database; longest web wait "
        f"for a write lock {web_wait_ms(holds):.0f} ms")
    skipped = sum("skipped a pass" in line for line in log_text.splitlines())
    errors = sum(" ERROR " in line for line in log_text.splitlines())
    say(f"Log: {locked} line(s) with \"database is locked\", {skipped} job pass(es) "
        f"skipped for a busy lock, {errors} ERROR line(s)")
    if not holds:
        say("(no write-lock figures: this tree's core.db does not measure them)")
        return
    holds = grouped(holds)
    say("\n| holder | write txns | mean ms | max hold ms | holds > 100 ms | max wait ms |")
    say("|---|---|---|---|---|---|")
    for name, h in sorted(holds.items(), key=lambda item: -item[1]["max_ms"]):
        say(f"| {name} | {h['count']:.0f} | {h['total_ms'] / max(1, h['count']):.1f} | "
            f"{h['max_ms']:.1f} | {h['over_100ms']:.0f} | {h['max_wait_ms']:.1f} |")


def main() -> None:
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--fault-every", type=float, default=5.0, help="minutes")
    parser.add_argument("--interval", type=int, default=1, help="BELLWETHER_PROBE_INTERVAL_S")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="the Bellwether tree to run (another checkout for a before run)")
    parser.add_argument("--keep", type=Path, help="copy the log and figures here")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bw-bench-soak-") as tmp:
        data_dir = Path(tmp) / "data"
        log_path, holds_path = Path(tmp) / "up.log", Path(tmp) / "holds.json"
        env = up_env(data_dir, port, BELLWETHER_PROBE_INTERVAL_S=str(args.interval))
        say(f"bellwether up ({args.root}): port {port}, probes every {args.interval} s, "
            f"{args.minutes:g} min, a fault every {args.fault_every:g} min")
        argv = [PYTHON, "-c", WRAPPER, str(args.root), str(log_path), str(holds_path)]
        with Child(argv, env=env) as up:
            wait_for_port(port, timeout=600)  # a loaded machine starts `up` slowly
            token_file = data_dir / "admin-token"
            deadline = time.perf_counter() + 30
            while not token_file.exists() and time.perf_counter() < deadline:
                time.sleep(0.1)
            api = Api(f"http://127.0.0.1:{port}", token_file.read_text().strip())
            samples = soak(api, up.pid, args.minutes * 60, args.fault_every * 60,
                           lambda: up.process.poll() is None,
                           lambda at, rss: progress(api, at, rss, log_path, holds_path))
            time.sleep(6)  # one more dump of the lock figures
            code = up.stop(timeout=60)
        log_text = log_path.read_text(errors="replace") if log_path.exists() else ""
        holds = json.loads(holds_path.read_text()) if holds_path.exists() else {}
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            (args.keep / "up.log").write_text(log_text)
            (args.keep / "holds.json").write_text(json.dumps(holds, indent=1))
    report(api, samples, log_text, holds, args.fault_every * 60)
    say(f"\nSIGTERM → exit {code}")


if __name__ == "__main__":
    main()
