"""DNS and ICMP checks go through the same pipeline as HTTP checks: stored, rolled up into
minute verdicts (the SLA's input) with their latencies, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from core.clock import SystemClock
from core.config import Settings
from core.db import make_session_factory, session_scope
from core.scheduler import JobContext
from probes import jobs, store
from probes.checks import CheckResult
from probes.runner import RunContext, make_client, run_check
from probes.specs import ProbeSpec, parse_probe, resolver_address
from sla.period import minute_of
from tests.probes.dns_server import DnsServer
from tests.probes.test_icmp_check import may_ping
from tests.support.clock import ManualClock
from tests.support.databases import migrated_engine

REGION = "europe-west1.gcp"
MINUTE = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
LOCATIONS = ("loc-a", "loc-b", "loc-c")

__all__ = ["may_ping"]  # the fixture, shared with test_icmp_check


@pytest.fixture
def fresh_engine(tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(tmp_path, "kinds") as engine:
        yield engine


def probe(name: str, **fields: object) -> ProbeSpec:
    return parse_probe({"name": name, "component": name, "region": REGION, "timeout_s": 3,
                        **fields}, [REGION])


def checks_at(spec: ProbeSpec, resolver: tuple[str, int] | None = None) -> list[CheckResult]:
    """Two real checks from each location, stamped into MINUTE: a failure counts once it
    is confirmed by the next check, as for HTTP checks."""
    async def each() -> list[CheckResult]:
        results = []
        for index, location in enumerate(LOCATIONS):
            ctx = RunContext(location, lambda _r: None, lambda _r: None, SystemClock(),
                             resolver=resolver)
            async with make_client(location, lambda _loc, _region: False) as client:
                for second in (0, 30):
                    check = await run_check(spec, ctx, client, MINUTE)
                    at = MINUTE + timedelta(seconds=second + 5 * index)
                    results.append(replace(check, intended_at=at, started_at=at))
        return results

    return asyncio.run(each())


def rolled_verdicts(engine: Engine, checks: list[CheckResult], component: str) -> dict[str, int]:
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        assert store.save_checks(session, checks, MINUTE) == len(checks)
    ctx = JobContext(Settings(), ManualClock(MINUTE + timedelta(minutes=2)), factory)
    while jobs.roll_up_minutes(ctx):
        pass
    with session_scope(factory) as session:
        minute = minute_of(MINUTE)
        return store.verdict_counts(session, component, REGION, minute, minute)


def test_dns_checks_become_up_and_down_minutes(fresh_engine: Engine) -> None:
    with DnsServer({("shop.example.test.", "A"): ["192.0.2.10"]}) as server:
        resolver = resolver_address(server.address)
        good = checks_at(probe("dns-good", kind="dns", target="shop.example.test",
                               answers=["192.0.2.10"]), resolver)
        bad = checks_at(probe("dns-bad", kind="dns", target="shop.example.test",
                              answers=["192.0.2.99"]), resolver)
    assert all(check.ok for check in good)
    assert not any(check.ok for check in bad)
    assert rolled_verdicts(fresh_engine, good, "dns-good") == {"up": 1, "down": 0,
                                                               "no_data": 0}
    assert rolled_verdicts(fresh_engine, bad, "dns-bad") == {"up": 0, "down": 1, "no_data": 0}
    with session_scope(make_session_factory(fresh_engine)) as session:
        stored = store.recent_checks(session, "dns-bad", REGION)
        assert {row.error for row in stored} == {bad[0].error}
        assert all("dns_ms" in row.timings for row in stored)


@pytest.mark.usefixtures("may_ping")
def test_icmp_checks_become_minutes_with_their_round_trips(fresh_engine: Engine) -> None:
    pings = checks_at(probe("ping-loopback", kind="icmp", target="127.0.0.1", count=1))
    assert all(check.ok for check in pings), [check.error for check in pings]
    assert rolled_verdicts(fresh_engine, pings, "ping-loopback")["up"] == 1
    factory = make_session_factory(fresh_engine)
    with session_scope(factory) as session:
        minutes = store.component_minutes(session, "ping-loopback", REGION,
                                          minute_of(MINUTE), minute_of(MINUTE))
        assert len(minutes) == 1
        worst = max(check.latency_ms for check in pings)
        assert minutes[0].latency_max_ms == pytest.approx(worst, abs=0.01)
