"""Scheduler lag: 1,000 probes at 1 s intervals through `probes.locations.ProbeScheduler`.

Run: `.venv/bin/python bench/scheduler_lag.py [--runs tcp:1000,http:1000/2] [--seconds 20]`.

The scheduler (APScheduler's AsyncIOScheduler on its asyncio loop thread, one job per probe
and location) runs in this process, pinned to CPU 0; the target runs in its own process on
CPU 1 (bench/target_server.py, the zone app on cheroot). Each run is KIND:PROBES or
KIND:PROBES/SHARDS:

- `tcp`: TCP-connect probes, the cheapest probe kind, so that the lag measured is the
  scheduler's and not the cost of the checks;
- `http`: the one-step GET /healthz probe of bench/runner_throughput.py (new connection per
  check, as in production);
- `http+sniffio-cached`: the same with httpcore's failed `import sniffio` cached
  (`bench._common.failed_sniffio_import_cached`).

With /SHARDS (N > 1) the probes are split as `bellwether agent --shard i/N` splits them
(`probes.locations.Shard`): N child processes, each running one `ProbeScheduler` with its
shard, each pinned to its own CPU where there is one (shard i on CPU i mod the CPU count, so
on 2 CPUs shard 1 shares CPU 1 with the target). Their lags are pooled; checks/s, skipped
slots, late checks and failures are summed; CPU is each shard's own.

Lag is a check's real start minus its intended slot (`ProbeScheduler` computes both); it is
collected for every check through the scheduler's `observe` hook. The first `--warmup`
seconds (the first runs are spread over the first interval) are left out. Skipped slots are
`ProbeScheduler.skipped` (a slot missed, or skipped because the previous run still ran);
late checks are `ProbeScheduler.late` (waited for a runner slot longer than 0.1 s).
`--profile` runs cProfile on the loop thread during each measured window.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import pstats
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (
    HOST,
    PYTHON,
    ROOT,
    client_and_server_cpus,
    cpu_busy_seconds,
    cpus,
    exit_on_sigterm,
    failed_sniffio_import_cached,
    free_port,
    percentile,
    pin,
    say,
    sniffio_installed,
    target_server,
)
from core.clock import SystemClock
from probes.checks import CheckResult
from probes.locations import EVERY_JOB, ProbeScheduler, Shard
from probes.runner import RunContext
from probes.specs import Assertion, ProbeKind, ProbeSpec, Step

TARGET_P99_MS = 100.0
LOCATION = "loc-a"
CACHED = "+sniffio-cached"
KINDS = ("tcp", "http", "http" + CACHED)
DEFAULT_RUNS = "tcp:1000,http:1000,http:500,http:1000/2"


@dataclass
class Recorder:
    """The sink and the observer: every check's lag, with when it was seen."""

    started: float = field(default_factory=time.perf_counter)
    lags: list[tuple[float, float]] = field(default_factory=list)  # (seen at s, lag ms)
    failed: int = 0

    def put(self, checks: Sequence[CheckResult]) -> None:
        self.failed += sum(not check.ok for check in checks)

    def observe(self, _check: CheckResult, lag: float) -> None:
        self.lags.append((time.perf_counter() - self.started, lag * 1000))


def make_probes(count: int, kind: str, port: int) -> list[ProbeSpec]:
    """TCP-connect probes of the target, or one-step GET /healthz probes ("http…")."""
    if kind == "tcp":
        return [ProbeSpec(name=f"bench.{i:04d}", component="bench", region="bench",
                          kind=ProbeKind.TCP, interval_s=1, timeout_s=5.0,
                          target=f"{HOST}:{port}") for i in range(count)]
    step = Step(method="GET", path="/healthz", auth="none",
                expect=Assertion(status=(200,), json_field="status"))
    return [ProbeSpec(name=f"bench.{i:04d}", component="bench", region="bench",
                      interval_s=1, timeout_s=5.0, base_url=f"http://{HOST}:{port}",
                      steps=(step,)) for i in range(count)]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Result:
    probes: int
    kind: str
    span: float
    lags: list[float]
    skipped: int
    failed: int
    cpu_seconds: float
    core_busy_seconds: float  # the scheduler's CPU, whoever used it
    late: int = 0
    shards: int = 1
    shard_cpu: tuple[float, ...] = ()  # each shard's CPU seconds (several shards only)

    def row(self) -> str:
        lags, span = self.lags, self.span
        others = max(0.0, self.core_busy_seconds - self.cpu_seconds)
        busy = (" + ".join(f"{c / span * 100:.0f} %" for c in self.shard_cpu)
                if self.shard_cpu else f"{self.cpu_seconds / span * 100:.0f} %")
        return (f"| {self.probes} | {self.kind} | {self.shards} | {span:.1f} "
                f"| {len(lags) / span:,.0f} ({self.probes:,}) | {percentile(lags, 0.5):.1f} "
                f"| {percentile(lags, 0.9):.1f} | {percentile(lags, 0.99):.1f} "
                f"| {max(lags, default=float('nan')):.1f} | {self.skipped} | {self.late} "
                f"| {self.failed} | {busy} "
                f"| {'-' if self.shard_cpu else f'{others / span * 100:.0f} %'} "
                f"| {self.cpu_seconds * 1000 / max(1, len(lags)):.3f} |")

    def to_json(self) -> dict[str, object]:
        return {"probes": self.probes, "kind": self.kind, "span": self.span,
                "lags": self.lags, "skipped": self.skipped, "failed": self.failed,
                "cpu_seconds": self.cpu_seconds, "core_busy_seconds": self.core_busy_seconds,
                "late": self.late}


def pooled(results: list[Result]) -> Result:
    """N shards' results as one run: lags pooled, counts and CPU summed, the widest span."""
    first = results[0]
    return Result(first.probes, first.kind, max(r.span for r in results),
                  [lag for r in results for lag in r.lags], sum(r.skipped for r in results),
                  sum(r.failed for r in results), sum(r.cpu_seconds for r in results),
                  float("nan"), sum(r.late for r in results), len(results),
                  tuple(r.cpu_seconds for r in results))


def measure(probes: int, kind: str, port: int, seconds: float, warmup: float,
            profile: bool, cpu: int | None, shard: Shard = EVERY_JOB) -> Result:
    """Run the scheduler with `probes` probes for warm-up + `seconds`; its lags and counts."""
    recorder = Recorder()
    clock = SystemClock()
    ctx = RunContext(LOCATION, lambda _region: None, lambda _region: None, clock)
    scheduler = ProbeScheduler(make_probes(probes, kind, port), [ctx], recorder, clock,
                               is_cut=lambda _location, _region: False,
                               observe=recorder.observe, shard=shard)
    profiler = cProfile.Profile()
    cached = (failed_sniffio_import_cached() if kind.endswith(CACHED)
              else contextlib.nullcontext())
    with cached:
        try:
            scheduler.start()
            time.sleep(warmup)
            skipped_before, cpu_before = scheduler.skipped, _cpu_seconds()
            late_before = scheduler.late
            busy_before = cpu_busy_seconds(cpu)
            window_start = time.perf_counter() - recorder.started
            # The profiler must be switched on in the loop's own thread.
            loop = scheduler._loop
            if profile:
                loop.call_soon_threadsafe(profiler.enable)
            time.sleep(seconds)
            if profile:
                loop.call_soon_threadsafe(profiler.disable)
            window_end = time.perf_counter() - recorder.started
            skipped, used = scheduler.skipped - skipped_before, _cpu_seconds() - cpu_before
            late = scheduler.late - late_before
            busy = cpu_busy_seconds(cpu) - busy_before
        finally:
            scheduler.stop()
    if profile:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
        say(f"\ncProfile of the loop thread, {probes} {kind} probes (by own time):\n"
            + out.getvalue())
    lags = [lag for at, lag in recorder.lags if window_start <= at < window_end]
    return Result(probes, kind, window_end - window_start, lags, skipped, recorder.failed, used,
                  busy, late)


def measure_shards(probes: int, kind: str, shards: int, port: int, seconds: float,
                   warmup: float) -> Result:
    """N child processes, one shard each, pinned round-robin to the CPUs; pooled results."""
    available = cpus()
    children = []
    try:
        for index in range(shards):
            cpu = available[index % len(available)] if len(available) > 1 else None
            argv = [PYTHON, str(Path(__file__).resolve()), "--child", f"{index}/{shards}",
                    "--runs", f"{kind}:{probes}", "--port", str(port),
                    "--seconds", str(seconds), "--warmup", str(warmup)]
            if cpu is not None:
                argv += ["--cpu", str(cpu)]
            children.append(subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE,
                                             text=True))
        outputs = [child.communicate(timeout=seconds + warmup + 120)[0] for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait(10)
    results = []
    for child, out in zip(children, outputs, strict=True):
        if child.returncode != 0:
            raise RuntimeError(f"shard process exited {child.returncode}")
        raw = json.loads(out.strip().splitlines()[-1])
        results.append(Result(**raw))
    return pooled(results)


def run_child(shard: Shard, kind: str, probes: int, port: int, seconds: float,
              warmup: float, cpu: int | None) -> None:
    """One shard of a run, in its own process: its result as one JSON line on stdout."""
    pinned = pin(cpu)
    result = measure(probes, kind, port, seconds, warmup, False,
                     cpu if pinned else None, shard)
    print(json.dumps(result.to_json()), flush=True)


def run(runs: list[tuple[str, int, int]], seconds: float, warmup: float,
        profile: bool) -> None:
    probe_cpu, target_cpu = client_and_server_cpus()
    pinned = pin(probe_cpu)
    port = free_port()
    where = f"pinned to CPU {probe_cpu}" if pinned else "NOT pinned"
    say(f"scheduler lag: probes at 1 s intervals × 1 location, {seconds:g} s measured after "
        f"{warmup:g} s warm-up; scheduler {where}, target on CPU {target_cpu}; sniffio "
        f"{'installed' if sniffio_installed() else 'NOT installed'}")
    results = []
    with target_server(port, target_cpu):
        for kind, probes, shards in runs:
            if shards > 1:
                result = measure_shards(probes, kind, shards, port, seconds, warmup)
            else:
                result = measure(probes, kind, port, seconds, warmup, profile,
                                 probe_cpu if pinned else None)
            say(f"{probes} {kind} in {shards} shard(s): p99 "
                f"{percentile(result.lags, 0.99):.1f} ms")
            results.append(result)
    say("\n| probes | kind | shards | seconds | checks/s (wanted) | lag p50 ms | p90 ms "
        "| p99 ms | max ms | skipped slots | late checks | failed checks | its CPU busy "
        "| others on its CPU | CPU ms per check |")
    say("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for result in results:
        say(result.row())
    say("")
    for result in results:
        p99 = percentile(result.lags, 0.99)
        verdict = "met" if p99 < TARGET_P99_MS and not result.skipped else "MISSED"
        say(f"Target p99 < {TARGET_P99_MS:g} ms, no skipped slot, {result.probes} "
            f"{result.kind} in {result.shards} shard(s): {verdict} (p99 {p99:.1f} ms, "
            f"{result.skipped} skipped, {result.late} late)")


def parse_runs(raw: str) -> list[tuple[str, int, int]]:
    """`KIND:PROBES[/SHARDS],…` as (kind, probes, shards)."""
    runs = []
    for part in raw.split(","):
        kind, _, size = part.strip().partition(":")
        count, _, shards = size.partition("/")
        shards = shards or "1"
        if kind not in KINDS or not count.isdigit() or not shards.isdigit() or shards == "0":
            raise SystemExit(f"--runs: {part!r} is not KIND:PROBES[/SHARDS], KIND one of "
                             f"{KINDS}")
        runs.append((kind, int(count), int(shards)))
    return runs


def main() -> None:
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default=DEFAULT_RUNS,
                        help=f"KIND:PROBES,… with KIND in {', '.join(KINDS)}")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--child", metavar="I/N", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, probes, _ = parse_runs(args.runs)[0]
        run_child(Shard.parse(args.child), kind, probes, args.port, args.seconds, args.warmup,
                  args.cpu)
        return
    run(parse_runs(args.runs), args.seconds, args.warmup, args.profile)


if __name__ == "__main__":
    main()
