"""Probe runner throughput: checks/s on one core and CPU per check, new connection per check.

Run: `.venv/bin/python bench/runner_throughput.py [--rounds 3] [--checks 3000]`.

Layout on this 2-core machine: the probing side (our runner, `wrk`, blackbox_exporter) is
pinned to CPU 0; the target, a real zone app of the commerce set on the fleet's cheroot
`Listener` (bench/target_server.py, `GET /healthz`), runs in its own process pinned to CPU 1,
so the runner never shares a GIL or a core with it.

Each round measures, back to back and against the same endpoint:

1. the loopback ceiling: `wrk -t1 -c C -H "Connection: close"` (a new connection per request,
   as the runner does) at each concurrency, and `wrk` with keep-alive at the middle one;
2. our runner: `probes.runner.run_check` with `make_client` (new connection per check), a
   one-step GET probe with `auth="none"` asserting status 200 and the JSON field `status`,
   C checks in flight; CPU from `resource.getrusage(RUSAGE_SELF)`. Also with the runner's
   earlier transports: httpcore's pool and h11 on probes/network.py's asyncio sockets (what
   `make_client` used before probes/http1.py: ", httpcore transport") and httpx's own
   transport (httpcore on anyio, before probes/network.py: ", anyio transport"); and, at
   C=20, the same GET through the same client without `run_check` ("httpx bare"), all
   three ways;
3. Prometheus blackbox_exporter (GOMAXPROCS=1) with an http module asserting 200 and the same
   body, driven by a keep-alive asyncio client making a fixed number of
   `/probe?target=…&module=http_2xx` requests with C in flight; its CPU comes from
   /proc/<pid>/stat. The driver runs on CPU 1, beside the target, so it does not take
   blackbox_exporter's core.

The medians over the rounds are printed, with ratios from this one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (
    HOST,
    Child,
    client_and_server_cpus,
    cpu_busy_seconds,
    exit_on_sigterm,
    free_port,
    listen_overflows,
    percentile,
    pin,
    say,
    sniffio_installed,
    target_server,
    wait_for_port,
)
from core.clock import SystemClock
from probes.network import asyncio_transport
from probes.runner import PartitionTransport, RunContext, make_client, run_check
from probes.specs import Assertion, ProbeSpec, Step

CONCURRENCIES = (10, 20, 50)
ANYIO = ", anyio transport"
HTTPCORE = ", httpcore transport"
TRANSPORTS = {"": "http1", HTTPCORE: "httpcore", ANYIO: "anyio"}
TOOLS = ("wrk", "wrk keep-alive", "runner", "runner" + HTTPCORE, "runner" + ANYIO,
         "httpx bare", "httpx bare" + HTTPCORE, "httpx bare" + ANYIO, "blackbox_exporter")
WRK_SECONDS = 3
TARGET_CHECKS_PER_S = 800.0
BLACKBOX = "prometheus-blackbox-exporter"
BLACKBOX_CONFIG = """\
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      valid_status_codes: [200]
      fail_if_body_not_matches_regexp: ['"status":"ok"']
"""


class Meter:
    """What a phase used besides its own process: the target's CPU, the probing CPU's busy
    time (to see what else ran on it), SYN drops, and the wall time."""

    def __init__(self, target: Child, probe_cpu: int | None) -> None:
        self.target, self.probe_cpu = target, probe_cpu
        self.began = time.perf_counter()
        self.target_cpu = target.cpu_seconds()
        self.core_busy = cpu_busy_seconds(probe_cpu)
        self.drops = listen_overflows()

    def read(self) -> tuple[float, float, float, int]:
        """(wall seconds, target CPU s, probing CPU busy s, SYN drops) since the start."""
        return (time.perf_counter() - self.began, self.target.cpu_seconds() - self.target_cpu,
                cpu_busy_seconds(self.probe_cpu) - self.core_busy,
                listen_overflows() - self.drops)


@dataclass(frozen=True)
class Sample:
    """One measured phase: `count` checks (or requests) in `seconds` of wall time."""

    tool: str
    concurrency: int
    count: int
    failed: int
    seconds: float
    cpu_seconds: float  # of the measured process (runner, wrk or blackbox_exporter)
    target_cpu_seconds: float
    core_busy_seconds: float  # the probing CPU, whoever used it
    p50_ms: float | None = None
    p99_ms: float | None = None
    syn_drops: int = 0  # ListenOverflows during the phase (the whole machine's)
    wall_seconds: float = 0.0  # when `seconds` is the tool's own (wrk), the phase's wall time

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    @property
    def cpu_ms(self) -> float:
        return self.cpu_seconds * 1000 / self.count

    @property
    def per_cpu_second(self) -> float | None:
        cpu_ms = self.cpu_ms
        return None if not cpu_ms else 1000 / cpu_ms

    @property
    def target_busy(self) -> float:
        return self.target_cpu_seconds / (self.wall_seconds or self.seconds)

    @property
    def own_busy(self) -> float:
        """How much of the probing CPU the measured process used."""
        return self.cpu_seconds / (self.wall_seconds or self.seconds)

    @property
    def others_busy(self) -> float:
        """How much of the probing CPU anything else used (other work on a shared machine)."""
        return max(0.0, self.core_busy_seconds - self.cpu_seconds) / (self.wall_seconds
                                                                       or self.seconds)


# --- our runner -------------------------------------------------------------------------------

def bench_spec() -> ProbeSpec:
    step = Step(method="GET", path="/healthz", auth="none",
                expect=Assertion(status=(200,), json_field="status", json_equals="ok"))
    return ProbeSpec(name="bench.healthz", component="bench", region="bench",
                     interval_s=1, timeout_s=10.0, steps=(step,))


def older_client(concurrency: int, transport: str) -> httpx.AsyncClient:
    """`make_client` as it was before probes/http1.py ("httpcore": httpcore on
    probes/network.py's asyncio sockets) or before probes/network.py ("anyio")."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=0)
    inner = (asyncio_transport(limits) if transport == "httpcore"
             else httpx.AsyncHTTPTransport(limits=limits))
    partitioned = PartitionTransport(inner, "bench", lambda _location, _region: False)
    return httpx.AsyncClient(transport=partitioned, follow_redirects=False,
                             headers={"Connection": "close",
                                      "User-Agent": "bellwether-probe/0.1"})


async def _client_checks(url: str, concurrency: int, checks: int, bare: bool = False,
                         transport: str = "http1") -> tuple[list[float], int]:
    """`checks` checks, `concurrency` at a time; latencies (ms) and failures.

    `bare` sends the same GET through the same client without `run_check` (no trace hooks,
    no assertions, no CheckResult): what httpx alone costs. `transport` other than
    "http1" is one of the runner's earlier transports (`older_client`).
    """
    clock = SystemClock()
    spec = bench_spec()
    ctx = RunContext("bench", lambda _region: url, lambda _region: None, clock)
    client = (make_client("bench", lambda _location, _region: False, concurrency)
              if transport == "http1" else older_client(concurrency, transport))
    latencies: list[float] = []
    failed = 0
    remaining = checks

    async def worker() -> None:
        nonlocal remaining, failed
        while remaining > 0:
            remaining -= 1
            if bare:
                began = time.perf_counter()
                response = await client.get(url + "/healthz")
                latencies.append((time.perf_counter() - began) * 1000)
                failed += response.status_code != 200
                continue
            check = await run_check(spec, ctx, client, clock.now())
            latencies.append(check.latency_ms)
            failed += not check.ok
    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await client.aclose()
    return latencies, failed


def _rusage_cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run_client(url: str, concurrency: int, checks: int, target: Child, probe_cpu: int | None,
               bare: bool = False, suffix: str = "") -> Sample:
    """`suffix` names the transport: "" (the runner's own), HTTPCORE or ANYIO."""
    tool = "httpx bare" if bare else "runner"
    transport = TRANSPORTS[suffix]
    asyncio.run(_client_checks(url, concurrency, 100, bare, transport))  # warm up
    cpu_before = _rusage_cpu(resource.RUSAGE_SELF)
    meter = Meter(target, probe_cpu)
    latencies, failed = asyncio.run(_client_checks(url, concurrency, checks, bare, transport))
    seconds, target_cpu, core_busy, drops = meter.read()
    cpu = _rusage_cpu(resource.RUSAGE_SELF) - cpu_before
    return Sample(tool + suffix, concurrency, checks, failed,
                  seconds, cpu, target_cpu, core_busy, percentile(latencies, 0.5),
                  percentile(latencies, 0.99), drops)


# --- wrk ------------------------------------------------------------------------------------

def run_wrk(url: str, concurrency: int, cpu: int | None, target: Child,
            keep_alive: bool = False) -> Sample:
    argv = ["wrk", "-t1", f"-c{concurrency}", f"-d{WRK_SECONDS}s", "--latency", url]
    if not keep_alive:
        argv[1:1] = ["-H", "Connection: close"]
    children_before = _rusage_cpu(resource.RUSAGE_CHILDREN)
    meter = Meter(target, cpu)
    done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60,
                          preexec_fn=(lambda: pin(cpu)) if cpu is not None else None)
    wall, target_cpu, core_busy, drops = meter.read()
    wrk_cpu = _rusage_cpu(resource.RUSAGE_CHILDREN) - children_before
    out = done.stdout
    total = re.search(r"(\d+) requests in ([\d.]+)s", out)
    if total is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       out)
    failed = (int(bad[1]) if bad else 0) + (sum(int(g) for g in errors.groups()) if errors
                                             else 0)
    # The rate is over wrk's own measuring time; CPU shares over the phase's wall time.
    return Sample("wrk keep-alive" if keep_alive else "wrk", concurrency, int(total[1]), failed,
                  float(total[2]), wrk_cpu, target_cpu, core_busy, _wrk_ms(out, "50%"),
                  _wrk_ms(out, "99%"), drops, wall)


def _wrk_ms(out: str, label: str) -> float | None:
    found = re.search(rf"^\s*{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    if found is None:
        return None
    return float(found[1]) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found[2]]


# --- blackbox_exporter ------------------------------------------------------------------------

async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])
               if k}
    if "content-length" in headers:
        return status, await reader.readexactly(int(headers["content-length"]))
    body = bytearray()
    while True:  # chunked
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return status, bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


async def _drive(port: int, path: str, concurrency: int, requests: int,
                 ) -> tuple[list[float], int]:
    """`requests` GETs of `path` over `concurrency` keep-alive connections."""
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()
    latencies: list[float] = []
    failed = 0
    remaining = requests

    async def worker() -> None:
        nonlocal remaining, failed
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while remaining > 0:
                remaining -= 1
                began = time.perf_counter()
                writer.write(request)
                status, body = await _read_response(reader)
                latencies.append((time.perf_counter() - began) * 1000)
                failed += status != 200 or b"\nprobe_success 1" not in body
        finally:
            writer.close()
            await writer.wait_closed()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, failed


def run_blackbox(blackbox: Child, port: int, target_url: str, concurrency: int, checks: int,
                 target: Child, driver_cpu: int | None, probe_cpu: int | None) -> Sample:
    """blackbox_exporter runs on `probe_cpu`; this process drives it from `driver_cpu`."""
    path = f"/probe?target={target_url}&module=http_2xx"
    pin(driver_cpu)
    try:
        asyncio.run(_drive(port, path, concurrency, 100))
        before = blackbox.cpu_seconds()
        meter = Meter(target, probe_cpu)
        latencies, failed = asyncio.run(_drive(port, path, concurrency, checks))
        seconds, target_cpu, core_busy, drops = meter.read()
    finally:
        pin(probe_cpu)
    return Sample("blackbox_exporter", concurrency, checks, failed, seconds,
                  blackbox.cpu_seconds() - before, target_cpu, core_busy,
                  percentile(latencies, 0.5), percentile(latencies, 0.99), drops)


def start_blackbox(config_dir: Path, cpu: int | None) -> tuple[Child, int]:
    config = config_dir / "blackbox.yml"
    config.write_text(BLACKBOX_CONFIG, encoding="utf-8")
    port = free_port()
    env = {**os.environ, "GOMAXPROCS": "1"}
    child = Child([BLACKBOX, f"--config.file={config}", f"--web.listen-address={HOST}:{port}",
                   "--log.level=warn"], env=env, cpu=cpu)
    try:
        wait_for_port(port)
    except TimeoutError:
        child.stop()
        raise
    return child, port


# --- report ---------------------------------------------------------------------------------

def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _median(samples: list[Sample], get: Callable[[Sample], float | None]) -> float | None:
    values = [v for v in (get(s) for s in samples) if v is not None]
    return statistics.median(values) if values else None


def report(samples: list[Sample], rounds: int, pinned: bool) -> None:
    say(f"\nMedians of {rounds} round(s); probing side "
        f"{'pinned to one CPU' if pinned else 'NOT pinned'}, target in its own process. "
        "SYN drops (machine-wide ListenOverflows) and failed are totals over the rounds.\n")
    say("| tool | C | checks/s | CPU ms/check | checks per CPU-s | p50 ms | p99 ms "
        "| its CPU busy | others on its CPU | target CPU busy | SYN drops | failed |")
    say("|---|---|---|---|---|---|---|---|---|---|---|---|")
    keys = sorted({(s.tool, s.concurrency) for s in samples},
                  key=lambda k: (TOOLS.index(k[0]), k[1]))
    medians: dict[tuple[str, int], dict[str, float | None]] = {}
    for tool, concurrency in keys:
        group = [s for s in samples if (s.tool, s.concurrency) == (tool, concurrency)]
        row = {"rate": _median(group, lambda s: s.rate),
               "cpu_ms": _median(group, lambda s: s.cpu_ms),
               "per_cpu": _median(group, lambda s: s.per_cpu_second)}
        medians[(tool, concurrency)] = row
        say(f"| {tool} | {concurrency} | {_fmt(row['rate'])} | {_fmt(row['cpu_ms'], 3)} "
            f"| {_fmt(row['per_cpu'])} | {_fmt(_median(group, lambda s: s.p50_ms), 2)} "
            f"| {_fmt(_median(group, lambda s: s.p99_ms), 2)} "
            f"| {_fmt(_median(group, lambda s: s.own_busy * 100))} % "
            f"| {_fmt(_median(group, lambda s: s.others_busy * 100))} % "
            f"| {_fmt(_median(group, lambda s: s.target_busy * 100))} % "
            f"| {sum(s.syn_drops for s in group)} | {sum(s.failed for s in group)} |")
    say("\nRatios (medians of this run):\n")
    say("| runner | C | / wrk (close) | / blackbox checks/s | / blackbox checks per CPU-s "
        "| ≥ 800 checks/s |")
    say("|---|---|---|---|---|---|")
    for tool in ("runner", "runner" + HTTPCORE, "runner" + ANYIO):
        for concurrency in CONCURRENCIES:
            ours = medians.get((tool, concurrency), {})
            wrk = medians.get(("wrk", concurrency), {})
            box = medians.get(("blackbox_exporter", concurrency), {})
            met = (ours.get("rate") or 0) >= TARGET_CHECKS_PER_S
            say(f"| {tool} | {concurrency} | {_ratio(ours.get('rate'), wrk.get('rate'))} "
                f"| {_ratio(ours.get('rate'), box.get('rate'))} "
                f"| {_ratio(ours.get('per_cpu'), box.get('per_cpu'))} "
                f"| {'met' if met else 'MISSED'} |")


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if not a or not b else f"{a / b:.2f}"


def main() -> None:
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--checks", type=int, default=3000, help="checks per phase")
    parser.add_argument("--kind", choices=("zone", "tiny"), default="zone",
                        help="the target app (bench/target_server.py)")
    parser.add_argument("--backlog", type=int, default=1024,
                        help="the target's listen backlog (the fleet's listeners have 5)")
    args = parser.parse_args()
    for tool in ("wrk", BLACKBOX):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing: apt-get install -y wrk prometheus-blackbox-exporter")
    probe_cpu, target_cpu = client_and_server_cpus()
    pinned = pin(probe_cpu)
    port = free_port()
    url = f"http://{HOST}:{port}"
    say(f"runner throughput: target {url}/healthz ({args.kind}), probing side on CPU "
        f"{probe_cpu}, target on CPU {target_cpu}, backlog {args.backlog}, {args.checks} "
        f"checks per phase, {args.rounds} round(s); sniffio "
        f"{'installed' if sniffio_installed() else 'NOT installed'}")
    samples: list[Sample] = []
    with (target_server(port, target_cpu, args.kind, args.backlog) as target,
          tempfile.TemporaryDirectory(prefix="bw-bench-") as tmp):
        blackbox, bb_port = start_blackbox(Path(tmp), probe_cpu)
        with blackbox:
            for number in range(1, args.rounds + 1):
                first = len(samples)
                for concurrency in CONCURRENCIES:
                    samples.append(run_wrk(url + "/healthz", concurrency, probe_cpu, target))
                samples.append(run_wrk(url + "/healthz", 20, probe_cpu, target,
                                       keep_alive=True))
                for concurrency in CONCURRENCIES:
                    for suffix in TRANSPORTS:
                        samples.append(run_client(url, concurrency, args.checks, target,
                                                  probe_cpu, suffix=suffix))
                for suffix in TRANSPORTS:
                    samples.append(run_client(url, 20, args.checks, target, probe_cpu,
                                              bare=True, suffix=suffix))
                for concurrency in CONCURRENCIES:
                    samples.append(run_blackbox(blackbox, bb_port, url + "/healthz",
                                                concurrency, args.checks, target, target_cpu,
                                                probe_cpu))
                last = [s for s in samples[first:] if s.tool in ("runner", "wrk",
                                                                 "blackbox_exporter")]
                say(f"round {number}: " + ", ".join(
                    f"{s.tool} C={s.concurrency} {s.rate:,.0f}/s" for s in last))
    report(samples, args.rounds, pinned)


if __name__ == "__main__":
    main()
