"""The runner against the real embedded commerce set and real sockets on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from commerce import store as commerce_store
from commerce.faults import FaultKind, FaultSpec
from commerce.fleet import Fleet
from core.clock import SystemClock
from core.db import make_session_factory, session_scope
from probes.checks import CheckResult
from probes.runner import Credentials, RunContext, make_client, run_check
from probes.specs import ProbeKind, ProbeSpec, default_catalogue
from tests.commerce.conftest import FaultInjector
from tests.support.tls import TlsServer, self_signed

REGION = "europe-west1.gcp"


@pytest.fixture
def context(fleet: Fleet, engine: Engine) -> RunContext:
    now = datetime.now(UTC)
    with session_scope(make_session_factory(engine)) as session:
        commerce_store.ensure_probe_product(session, REGION, now)
        client_id, secret = commerce_store.probe_credentials(session, REGION, now)
    credentials = Credentials(client_id, secret, commerce_store.PROBE_PROJECT)
    return RunContext("loc-a", lambda region: fleet.routers[region].url,
                      lambda region: credentials, SystemClock())


@pytest.fixture
def injector(fleet: Fleet, engine: Engine) -> Iterator[FaultInjector]:
    faults = FaultInjector(fleet, engine)
    yield faults
    faults.clear_all()


def run(spec: ProbeSpec, ctx: RunContext, is_cut: bool = False) -> CheckResult:
    async def once() -> CheckResult:
        async with make_client(ctx.location, lambda _loc, _region: is_cut) as client:
            return await run_check(spec, ctx, client, datetime.now(UTC))

    return asyncio.run(once())


def test_every_default_probe_passes_against_a_healthy_region(context: RunContext) -> None:
    probes = [p for p in default_catalogue([REGION]) if p.region == REGION]
    results = {p.component: run(p, context) for p in probes}
    failed = {name: r.error for name, r in results.items() if not r.ok}
    assert failed == {}
    assert len(results) == 9
    orders = results["orders"]
    assert orders.status_code == 201
    assert orders.timings["connect_ms"] > 0
    assert 0 < orders.timings["first_byte_ms"] <= orders.timings["total_ms"]
    assert results["transaction"].figures["message_lag_ms"] > 0


def test_a_partition_cuts_the_location_off_before_any_request(context: RunContext) -> None:
    probe = next(p for p in default_catalogue([REGION]) if p.component == "products")
    result = run(probe, context, is_cut=True)
    assert not result.ok
    assert "partition" in (result.error or "")


def test_a_failing_service_fails_its_probe_with_the_reason(context: RunContext,
                                                           injector: FaultInjector) -> None:
    injector.inject(FaultSpec(kind=FaultKind.SERVICE_DOWN, region=REGION, service="carts"))
    carts = next(p for p in default_catalogue([REGION]) if p.component == "carts")
    result = run(carts, context)
    assert not result.ok
    assert result.status_code == 503
    assert "HTTP 503" in (result.error or "")


def test_a_slow_answer_passes_but_is_degraded(context: RunContext,
                                              injector: FaultInjector) -> None:
    injector.inject(FaultSpec(kind=FaultKind.LATENCY, region=REGION, service="search",
                              value=300))
    search = next(p for p in default_catalogue([REGION]) if p.component == "search")
    fast_enough = ProbeSpec(**{**{f: getattr(search, f) for f in search.__slots__},
                               "degraded_ms": 200.0})
    result = run(fast_enough, context)
    assert result.ok
    assert result.degraded
    assert result.latency_ms >= 300


def test_a_timeout_is_a_failure(context: RunContext, injector: FaultInjector) -> None:
    injector.inject(FaultSpec(kind=FaultKind.LATENCY, region=REGION, service="products",
                              value=1500))
    products = next(p for p in default_catalogue([REGION]) if p.component == "products")
    impatient = ProbeSpec(**{**{f: getattr(products, f) for f in products.__slots__},
                             "timeout_s": 0.5})
    result = run(impatient, context)
    assert not result.ok
    assert result.error == "timed out after 0.5 s"


def test_tcp_connect_checks_see_open_and_closed_ports(context: RunContext,
                                                      fleet: Fleet) -> None:
    router_port = fleet.routers[REGION].port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    open_check = run(ProbeSpec("tcp-open", "edge", REGION, ProbeKind.TCP,
                               target=f"127.0.0.1:{router_port}"), context)
    closed_check = run(ProbeSpec("tcp-closed", "edge", REGION, ProbeKind.TCP,
                                 target=f"127.0.0.1:{closed_port}"), context)
    assert open_check.ok
    assert open_check.timings["connect_ms"] > 0
    assert not closed_check.ok
    assert "ConnectionRefusedError" in (closed_check.error or "")


def test_an_expiring_certificate_is_a_warning_not_a_failure(context: RunContext,
                                                             tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, days=5)
    server = TlsServer(cert, key).start()
    try:
        spec = ProbeSpec("tls", "edge", REGION, ProbeKind.TLS, target=f"127.0.0.1:{server.port}",
                         ca_file=str(cert), tls_warn_days=14)
        result = run(spec, context)
        untrusted = run(ProbeSpec("tls-untrusted", "edge", REGION, ProbeKind.TLS,
                                  target=f"127.0.0.1:{server.port}"), context)
    finally:
        server.stop()
    assert result.ok
    assert 4 < result.figures["tls_days_left"] <= 5
    assert "expires in" in (result.warning or "")
    assert not untrusted.ok
    assert "CERTIFICATE_VERIFY_FAILED" in (untrusted.error or "")
