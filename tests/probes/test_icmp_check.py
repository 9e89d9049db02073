"""ICMP checks through the runner: echo to 127.0.0.1, and the explanation where the kernel
and the process's privileges forbid ping.

These tests skip only where the kernel forbids unprivileged ping for our group and we are not
root; under CI=true that fails instead, since CI must run them.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from typing import Any

import pytest

from core.clock import SystemClock
from probes.checks import CheckResult
from probes.icmp_check import icmp_refusal, ping_group_range, refusal_reason
from probes.runner import RunContext, make_client, run_check
from probes.specs import InvalidProbe, ProbeSpec, parse_probe

NOBODY = 65534


def kernel_lets_group_ping(gid: int) -> bool:
    text = ping_group_range()
    if text is None:
        return False
    low, high = (int(part) for part in text.split())
    return low <= gid <= high


@pytest.fixture
def may_ping() -> None:
    """Skip only where unprivileged ping is forbidden and we are not root (never in CI)."""
    if kernel_lets_group_ping(os.getgid()) or os.geteuid() == 0:
        return
    why = icmp_refusal() or "unprivileged ping is forbidden here and we are not root"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the ICMP tests: {why}")
    pytest.skip(why)


def icmp_probe(**fields: Any) -> ProbeSpec:
    return parse_probe({"name": "loopback-ping", "component": "network", "region": "eu",
                        "kind": "icmp", "target": "127.0.0.1", "count": 2, "timeout_s": 3,
                        **fields}, ["eu"])


def run(spec: ProbeSpec) -> CheckResult:
    async def once() -> CheckResult:
        ctx = RunContext("loc-a", lambda _r: None, lambda _r: None, SystemClock())
        async with make_client("loc-a", lambda _loc, _region: False) as client:
            return await run_check(spec, ctx, client, datetime.now(UTC))

    return asyncio.run(once())


@pytest.mark.usefixtures("may_ping")
def test_pinging_loopback_passes_with_round_trips_as_latency() -> None:
    result = run(icmp_probe())
    assert result.ok, result.error
    assert result.figures == {"packets_sent": 2.0, "packets_received": 2.0,
                              "packet_loss_pct": 0.0}
    assert 0 < result.timings["rtt_min_ms"] <= result.timings["rtt_avg_ms"]
    assert result.timings["rtt_avg_ms"] <= result.timings["rtt_max_ms"]
    assert result.latency_ms == pytest.approx(result.timings["rtt_avg_ms"], abs=0.001)
    assert result.timings["total_ms"] >= result.latency_ms
    assert not result.degraded


@pytest.mark.usefixtures("may_ping")
def test_conditions_on_round_trip_and_loss_judge_the_ping() -> None:
    kept = run(icmp_probe(**{"assert": ["packet_loss == 0", "response_time < 1000"]}))
    assert kept.ok, kept.error
    broken = run(icmp_probe(**{"assert": ["response_time < 0"]}))
    assert not broken.ok
    assert "response_time is" in (broken.error or "")
    assert "asserted response_time < 0" in (broken.error or "")


@pytest.mark.usefixtures("may_ping")
def test_a_slow_ping_is_degraded_like_a_slow_http_answer() -> None:
    result = run(icmp_probe(degraded_ms=1))
    assert result.ok
    assert result.degraded == (result.latency_ms > 1)


def ping_without_privileges() -> tuple[str, str, str, int]:
    """A check, and `icmp_refusal()`, from a process with no privileges: as root, a child
    dropped to nobody (no capabilities left); otherwise this process. (ok, error, refusal,
    gid)."""
    if os.geteuid() != 0:
        result = run(icmp_probe(count=1))
        return str(result.ok), str(result.error), str(icmp_refusal()), os.getgid()
    # As nobody the child cannot read the interpreter's library (under /root): everything
    # it runs is imported here first, by the same check and the refusal's wording.
    run(icmp_probe(count=1))
    refusal_reason(ping_group_range(), NOBODY, NOBODY)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            result = run(icmp_probe(count=1))
            said = f"{result.ok}\n{result.error}\n{icmp_refusal()}"
        except BaseException as exc:  # say what broke instead of a silent child
            said = f"crashed\n{type(exc).__name__}: {exc}\n"
        finally:
            os.write(write_end, said.encode())
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, encoding="utf-8") as pipe:
        ok, error, refusal = pipe.read().split("\n", 2)
    os.waitpid(pid, 0)
    assert ok != "crashed", error
    return ok, error, refusal, NOBODY


def test_without_permission_the_check_fails_saying_why() -> None:
    """The kernel's range decides whether an unprivileged process may ping; when it may not,
    the check fails with the reason and the remedy."""
    ok, error, refusal, gid = ping_without_privileges()
    if kernel_lets_group_ping(gid):
        assert (ok, refusal) == ("True", "None"), error
    elif os.geteuid() == 0 or refusal != "None":  # (not root, yet CAP_NET_RAW: it may ping)
        assert ok == "False"
        assert "ICMP echo is not permitted here" in error
        assert f"net.ipv4.ping_group_range is '{ping_group_range()}'" in error
        assert f"leaves out this process's group {gid}" in error
        assert "CAP_NET_RAW" in error
        assert refusal.startswith("ICMP echo is not permitted here")


def test_the_refusal_names_the_setting_and_the_group() -> None:
    why = refusal_reason("1 0", 1000, 1000)
    assert "net.ipv4.ping_group_range is '1 0'" in why
    assert "group 1000" in why
    assert 'sysctl -w net.ipv4.ping_group_range="1000 1000"' in why


@pytest.mark.parametrize(("fields", "message"), [
    ({"target": "127.0.0.1 127.0.0.2"}, "needs 'target', the host to ping"),
    ({"count": 0}, "'count' must be a number from 1 to 20"),
    ({"assert": ["answers contains x"]}, "response_time, packet_loss"),
])
def test_bad_icmp_probes_are_refused_saying_why(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidProbe, match=message):
        icmp_probe(**fields)
