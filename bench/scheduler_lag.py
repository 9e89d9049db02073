"""Scheduler lag: 1,000 probes at 1 s intervals through `probes.locations.ProbeScheduler`.

Run: `.venv/bin/python bench/scheduler_lag.py [--runs tcp:1000,http:1000] [--seconds 20]`.

The scheduler (APScheduler's AsyncIOScheduler on its asyncio loop thread, one job per probe
and location) runs in this process, pinned to CPU 0; the target runs in its own process on
CPU 1 (bench/target_server.py, the zone app on cheroot). Each run is KIND:PROBES:

- `tcp`: TCP-connect probes, the cheapest probe kind, so that the lag measured is the
  scheduler's and not the cost of the checks;
- `http`: the one-step GET /healthz probe of bench/runner_throughput.py (new connection per
  check, as in production);
- `http+sniffio-cached`: the same with httpcore's failed `import sniffio` cached
  (`bench._common.failed_sniffio_import_cached`).

Lag is a check's real start minus its intended slot (`ProbeScheduler` computes both); it is
collected for every check through the scheduler's `observe` hook. The first `--warmup`
seconds (the first runs are spread over the first interval) are left out. Skipped slots are
`ProbeScheduler.skipped` (a slot missed, or skipped because the previous run still ran).
`--profile` runs cProfile on the loop thread during each measured window.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import pstats
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (
    HOST,
    client_and_server_cpus,
    cpu_busy_seconds,
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
from probes.locations import ProbeScheduler
from probes.runner import RunContext
from probes.specs import Assertion, ProbeKind, ProbeSpec, Step

TARGET_P99_MS = 100.0
LOCATION = "loc-a"
CACHED = "+sniffio-cached"
KINDS = ("tcp", "http", "http" + CACHED)
DEFAULT_RUNS = "tcp:1000,http:1000,http+sniffio-cached:1000,http:500"


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

    def row(self) -> str:
        lags, span = self.lags, self.span
        others = max(0.0, self.core_busy_seconds - self.cpu_seconds)
        return (f"| {self.probes} | {self.kind} | {span:.1f} | {len(lags) / span:,.0f} "
                f"({self.probes:,}) | {percentile(lags, 0.5):.1f} | {percentile(lags, 0.9):.1f} "
                f"| {percentile(lags, 0.99):.1f} | {max(lags, default=float('nan')):.1f} "
                f"| {self.skipped} | {self.failed} | {self.cpu_seconds / span * 100:.0f} % "
                f"| {others / span * 100:.0f} % "
                f"| {self.cpu_seconds * 1000 / max(1, len(lags)):.3f} |")


def measure(probes: int, kind: str, port: int, seconds: float, warmup: float,
            profile: bool, cpu: int | None) -> Result:
    """Run the scheduler with `probes` probes for warm-up + `seconds`; its lags and counts."""
    recorder = Recorder()
    clock = SystemClock()
    ctx = RunContext(LOCATION, lambda _region: None, lambda _region: None, clock)
    scheduler = ProbeScheduler(make_probes(probes, kind, port), [ctx], recorder, clock,
                               is_cut=lambda _location, _region: False,
                               observe=recorder.observe)
    profiler = cProfile.Profile()
    cached = (failed_sniffio_import_cached() if kind.endswith(CACHED)
              else contextlib.nullcontext())
    with cached:
        try:
            scheduler.start()
            time.sleep(warmup)
            skipped_before, cpu_before = scheduler.skipped, _cpu_seconds()
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
                  busy)


def run(runs: list[tuple[str, int]], seconds: float, warmup: float, profile: bool) -> None:
    probe_cpu, target_cpu = client_and_server_cpus()
    pinned = pin(probe_cpu)
    port = free_port()
    where = f"pinned to CPU {probe_cpu}" if pinned else "NOT pinned"
    say(f"scheduler lag: probes at 1 s intervals × 1 location, {seconds:g} s measured after "
        f"{warmup:g} s warm-up; scheduler {where}, target on CPU {target_cpu}; sniffio "
        f"{'installed' if sniffio_installed() else 'NOT installed'}")
    results = []
    with target_server(port, target_cpu):
        for kind, probes in runs:
            result = measure(probes, kind, port, seconds, warmup, profile,
                             probe_cpu if pinned else None)
            say(f"{probes} {kind}: p99 {percentile(result.lags, 0.99):.1f} ms")
            results.append(result)
    say("\n| probes | kind | seconds | checks/s (wanted) | lag p50 ms | p90 ms | p99 ms "
        "| max ms | skipped slots | failed checks | its CPU busy | others on its CPU "
        "| CPU ms per check |")
    say("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for result in results:
        say(result.row())
    say("")
    for result in results:
        p99 = percentile(result.lags, 0.99)
        verdict = "met" if p99 < TARGET_P99_MS and not result.skipped else "MISSED"
        say(f"Target p99 < {TARGET_P99_MS:g} ms, no skipped slot, {result.probes} "
            f"{result.kind}: {verdict} (p99 {p99:.1f} ms, {result.skipped} skipped)")


def parse_runs(raw: str) -> list[tuple[str, int]]:
    runs = []
    for part in raw.split(","):
        kind, _, count = part.strip().partition(":")
        if kind not in KINDS or not count.isdigit():
            raise SystemExit(f"--runs: {part!r} is not KIND:PROBES, KIND one of {KINDS}")
        runs.append((kind, int(count)))
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
    args = parser.parse_args()
    run(parse_runs(args.runs), args.seconds, args.warmup, args.profile)


if __name__ == "__main__":
    main()
