"""The scheduler's sharding and its saturation count, with real probes on loopback."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.clock import SystemClock
from probes.checks import CheckResult
from probes.locations import DEFAULT_LOCATIONS, ProbeScheduler, Shard, waited_too_long
from probes.runner import RunContext
from probes.specs import Assertion, ProbeKind, ProbeSpec, Step
from tests.support.clock import ManualClock
from tests.support.waiting import wait_until


class Collected:
    """A sink that keeps every check (the scheduler's loop thread appends)."""

    def __init__(self) -> None:
        self.checks: list[CheckResult] = []

    def put(self, checks: Sequence[CheckResult]) -> None:
        self.checks.extend(checks)

    def jobs(self) -> set[str]:
        return {f"{c.probe}@{c.location}" for c in list(self.checks)}


@pytest.mark.parametrize("count", [1, 2, 3, 8])
def test_shards_split_a_location_s_jobs_so_that_each_runs_exactly_once(count: int) -> None:
    jobs = [f"probe.{i:04d}@{loc}" for i in range(1000) for loc in DEFAULT_LOCATIONS]
    owners = {job: [i for i in range(count) if Shard(i, count).owns(job)] for job in jobs}
    assert all(len(found) == 1 for found in owners.values())
    shares = [sum(found == [i] for found in owners.values()) for i in range(count)]
    assert min(shares) > len(jobs) / count * 0.8  # crc32 spreads them about evenly


@pytest.mark.parametrize("text", ["2/2", "1", "a/2", "1/0", "-1/2", "0/"])
def test_a_shard_that_is_not_index_slash_count_below_it_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="shard"):
        Shard.parse(text)


def test_a_shard_reads_as_index_slash_count() -> None:
    assert Shard.parse(" 3/4") == Shard(3, 4)
    assert str(Shard(3, 4)) == "3/4"


def test_a_wait_beyond_a_tenth_of_the_interval_is_saturation() -> None:
    assert not waited_too_long(0.1, 1)
    assert waited_too_long(0.11, 1)
    assert not waited_too_long(2.9, 30)
    assert waited_too_long(3.1, 30)


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A loopback port whose backlog accepts TCP connects (nothing needs to be read)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1024)
        yield int(server.getsockname()[1])


def tcp_probes(count: int, port: int) -> list[ProbeSpec]:
    return [ProbeSpec(name=f"shard.{i:02d}", component="shard", region="r",
                      kind=ProbeKind.TCP, interval_s=1, timeout_s=2.0,
                      target=f"127.0.0.1:{port}") for i in range(count)]


def test_two_shards_of_a_location_run_every_probe_and_never_the_same_one(
        listening_port: int) -> None:
    probes = tcp_probes(20, listening_port)
    clock = SystemClock()
    sinks = [Collected(), Collected()]
    schedulers = [
        ProbeScheduler(probes, [RunContext(loc, lambda _r: None, lambda _r: None, clock)
                                for loc in ("loc-a", "loc-b")],
                       sink, clock, is_cut=lambda _loc, _region: False, shard=Shard(i, 2))
        for i, sink in enumerate(sinks)]
    wanted = {f"{p.name}@{loc}" for p in probes for loc in ("loc-a", "loc-b")}
    try:
        for scheduler in schedulers:
            scheduler.start()
        wait_until(lambda: sinks[0].jobs() | sinks[1].jobs() == wanted, timeout=15,
                   message="a check of every job from one shard or the other")
    finally:
        for scheduler in schedulers:
            scheduler.stop()
    assert sinks[0].jobs()
    assert sinks[1].jobs()
    assert not sinks[0].jobs() & sinks[1].jobs()
    assert all(check.ok for sink in sinks for check in sink.checks)


class GatedServer(ThreadingHTTPServer):
    """Answers `GET /healthz` only once `gate` is set, so checks pile up behind the first."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), GatedHandler)
        self.gate = threading.Event()
        self.requests = 0


class GatedHandler(BaseHTTPRequestHandler):
    server: GatedServer

    def do_GET(self) -> None:
        self.server.requests += 1
        self.server.gate.wait(30)
        body = b'{"status":"ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads the scheduler's counts, not the log."""


@pytest.fixture
def gated() -> Iterator[GatedServer]:
    server = GatedServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.gate.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_a_check_that_waits_too_long_for_a_runner_slot_is_counted_late(
        gated: GatedServer) -> None:
    step = Step(method="GET", path="/healthz", auth="none", expect=Assertion(status=(200,)))
    probes = [ProbeSpec(name=f"gated.{i}", component="gated", region="r", interval_s=1,
                        timeout_s=20.0, base_url=f"http://127.0.0.1:{gated.server_port}",
                        steps=(step,)) for i in range(2)]
    # The scheduler's clock measures the waits; the runner's is real, for its timeouts.
    clock = ManualClock(datetime.now(UTC))
    sink = Collected()
    lates: list[int] = []
    ctx = RunContext("loc-a", lambda _r: None, lambda _r: None, SystemClock())
    scheduler = ProbeScheduler(probes, [ctx], sink, clock, is_cut=lambda _loc, _r: False,
                               concurrency=1)
    scheduler.on_late = lambda: lates.append(1)
    try:
        scheduler.start()
        wait_until(lambda: gated.requests == 1 and scheduler.waiting == 1, timeout=10,
                   message="one check in flight and one waiting for the only slot")
        assert scheduler.late == 0
        clock.advance(timedelta(seconds=0.5))  # the waiting check has now waited half its interval
        gated.gate.set()
        wait_until(lambda: len(sink.checks) >= 2, timeout=10, message="both checks done")
    finally:
        gated.gate.set()
        scheduler.stop()
    assert scheduler.late == 1  # only the check waiting when the clock moved
    assert lates == [1]
    assert all(check.ok for check in sink.checks)


def test_stopping_a_saturated_location_cancels_the_checks_still_waiting_for_a_slot(
        gated: GatedServer) -> None:
    """A check stuck past the stop timeout and others queued behind it for the only runner
    slot: stop() cancels what is left and the loop closes (an agent at 1,000 probes
    raised "Cannot close a running event loop" here)."""
    step = Step(method="GET", path="/healthz", auth="none", expect=Assertion(status=(200,)))
    probes = [ProbeSpec(name=f"gated.{i}", component="gated", region="r", interval_s=1,
                        timeout_s=20.0, base_url=f"http://127.0.0.1:{gated.server_port}",
                        steps=(step,)) for i in range(3)]
    sink = Collected()
    ctx = RunContext("loc-a", lambda _r: None, lambda _r: None, SystemClock())
    scheduler = ProbeScheduler(probes, [ctx], sink, SystemClock(),
                               is_cut=lambda _loc, _r: False, concurrency=1)
    scheduler.start()
    wait_until(lambda: gated.requests == 1 and scheduler.waiting == 2, timeout=10,
               message="one check in flight and two waiting for the only slot")
    scheduler.stop(timeout=0.2)
    assert not scheduler._thread.is_alive()
    assert scheduler._loop.is_closed()
    assert scheduler.in_flight == 0
    assert sink.checks == []  # nothing finished: the gate never opened
