"""TLS expiry: each threshold (14, 7, 1 days) paged once per certificate as a Tier 2
warning through a PagerDuty stand-in, a renewal resolving it, the admins' listing and the
`/metrics` gauge. A database of its own: the dispatcher delivers every due outbox row."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from alerts.jobs import dispatch_once
from app import create_app
from core import migrate
from core.clock import SystemClock
from core.config import Settings
from core.db import SessionFactory, make_engine, make_session_factory, session_scope
from core.models import Role
from core.scheduler import JobContext
from probes import store
from probes.checks import CheckResult
from probes.runner import RunContext, make_client, run_check
from probes.specs import parse_probe
from probes.tls import Reading, decide, thresholds
from probes.tls_jobs import JOBS, watch_certificates
from tests.conftest import make_token
from tests.support.clock import ManualClock
from tests.support.databases import create_database, drop_database
from tests.support.pagerduty import EventsApiStandIn
from tests.support.tls import TlsServer, self_signed

REGION = "europe-west1.gcp"
PROBE = "shop-tls"
DEDUP = f"bellwether-tls-{PROBE}"
TARGET = "shop.example.test:443"


# --- the decision, pure -------------------------------------------------------------------

T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


def reading(days_left: float, not_after: datetime | None, at: datetime = T0) -> Reading:
    return Reading(PROBE, at, "loc-a", days_left, not_after)


def test_a_certificate_first_seen_late_is_paged_at_the_lowest_threshold_it_reached() -> None:
    assert thresholds(14) == (14, 7, 1)
    expiry = T0 + timedelta(days=3)
    decision = decide([reading(3.0, expiry)], 14)
    assert decision is not None
    assert (decision.action, decision.threshold) == ("trigger", 7)
    assert decide([reading(15.0, expiry)], 14) is None


def test_a_renewal_resolves_only_when_the_certificate_before_it_was_warned_about() -> None:
    old, new = T0 + timedelta(days=5), T0 + timedelta(days=90)
    renewed = decide([reading(90.0, new), reading(5.0, old, T0 - timedelta(minutes=1))], 14)
    assert renewed is not None
    assert (renewed.action, renewed.certificate) == ("resolve", "20261006T120000Z")
    assert decide([reading(90.0, new), reading(40.0, T0 + timedelta(days=40))], 14) is None
    # Checks that recorded only the days left: the same certificate, estimated.
    assert decide([reading(20.0, None), reading(20.01, None, T0 - timedelta(minutes=15))],
                  14) is None


# --- the job, with a real PagerDuty stand-in ----------------------------------------------

@pytest.fixture(scope="module")
def tls_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = create_database(tmp_path_factory.mktemp("tlsdb"), "tls")
    migrate.upgrade(url)
    yield url
    drop_database(url)


@pytest.fixture(scope="module")
def tls_engine(tls_url: str) -> Iterator[Engine]:
    engine = make_engine(tls_url)
    yield engine
    engine.dispose()


@pytest.fixture
def factory(tls_engine: Engine) -> SessionFactory:
    """The module's database, emptied of what these tests write."""
    with tls_engine.begin() as conn:
        for table in ("outbox", "probe_checks", "probes"):
            conn.execute(text(f"DELETE FROM {table}"))
    return make_session_factory(tls_engine)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("pd-tls"))


@pytest.fixture
def events_api(certificate: tuple[Path, Path]) -> Iterator[EventsApiStandIn]:
    stand_in = EventsApiStandIn(*certificate)
    stand_in.start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def pd_settings(events_api: EventsApiStandIn, certificate: tuple[Path, Path], tls_url: str,
                tmp_path: Path) -> Settings:
    return replace(Settings(), data_dir=tmp_path, database_url=tls_url, secret_key="tls",
                   pagerduty_events_url=events_api.url, pagerduty_ca_bundle=str(certificate[0]),
                   pagerduty_routing_key_tier1="tier-one-key",
                   pagerduty_routing_key_tier2="tier-two-key")


def add_probe(factory: SessionFactory, name: str = PROBE, target: str = TARGET) -> None:
    spec = parse_probe({"name": name, "component": "storefront", "region": REGION,
                        "kind": "tls", "target": target}, (REGION,), source="api")
    with session_scope(factory) as session:
        store.save_probe(session, spec, T0)


def see(factory: SessionFactory, clock: ManualClock, not_after: datetime,
        probe: str = PROBE) -> None:
    """A check of the probe now, that saw a certificate expiring at `not_after`."""
    now = clock.now()
    days_left = round((not_after - now).total_seconds() / 86400, 2)
    check = CheckResult(probe=probe, component="storefront", region=REGION, location="loc-a",
                        intended_at=now, started_at=now, ok=True, latency_ms=4.0,
                        figures={"tls_days_left": days_left,
                                 "tls_not_after": not_after.timestamp()})
    with session_scope(factory) as session:
        store.save_checks(session, [check], now)


def passes(ctx: JobContext) -> int:
    """A pass of the TLS job, then of the dispatcher; the outbox rows the TLS job added."""
    new = watch_certificates(ctx)
    dispatch_once(ctx)
    return new


def test_each_threshold_is_paged_once_per_certificate_and_a_renewal_resolves(
        factory: SessionFactory, clock: ManualClock, pd_settings: Settings,
        events_api: EventsApiStandIn) -> None:
    add_probe(factory)
    ctx = JobContext(pd_settings, clock, factory)
    expiry = clock.now() + timedelta(days=20)
    see(factory, clock, expiry)
    assert passes(ctx) == 0

    made = []
    for days_left in (13.5, 13.4, 6.9, 6.8, 0.9, 0.5):
        clock.advance(expiry - timedelta(days=days_left) - clock.now())
        see(factory, clock, expiry)
        made.append(passes(ctx))
        assert passes(ctx) == 0  # nothing new: nothing again
    assert made == [1, 0, 1, 0, 1, 0]
    restarted = JobContext(pd_settings, clock, factory)  # its memory gone: the keys hold
    assert passes(restarted) == 0

    clock.advance(timedelta(hours=1))
    see(factory, clock, clock.now() + timedelta(days=90))  # renewed
    assert passes(ctx) == 1
    clock.advance(timedelta(hours=1))
    see(factory, clock, clock.now() + timedelta(days=89.9))
    assert passes(ctx) == 0

    assert events_api.accepted() == [(DEDUP, "trigger")] * 3 + [(DEDUP, "resolve")]
    triggers = [e for e in events_api.events if e["event_action"] == "trigger"]
    assert {e["routing_key"] for e in events_api.events} == {"tier-two-key"}
    assert [e["payload"]["custom_details"]["threshold_days"] for e in triggers] == [14, 7, 1]
    first = triggers[0]["payload"]
    assert (first["severity"], first["class"], first["component"], first["group"],
            first["source"]) == ("warning", "tls_expiry", "storefront", REGION, TARGET)
    assert "expires in 13.5 days" in first["summary"]
    assert first["custom_details"]["not_after"] == expiry.isoformat()


def test_a_pass_with_no_new_check_reads_one_row_range_and_writes_nothing(
        factory: SessionFactory, clock: ManualClock, pd_settings: Settings,
        tls_engine: Engine) -> None:
    add_probe(factory)
    ctx = JobContext(pd_settings, clock, factory)
    see(factory, clock, clock.now() + timedelta(days=10))
    assert watch_certificates(ctx) == 1
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(tls_engine, "before_cursor_execute", record)
    try:
        assert watch_certificates(ctx) == 0
    finally:
        event.remove(tls_engine, "before_cursor_execute", record)
    on_checks = [s for s in statements if "probe_checks" in s]
    assert len(on_checks) == 1
    assert not [s for s in statements if "outbox" in s]


def test_without_a_tier_2_key_nothing_is_paged(factory: SessionFactory, clock: ManualClock,
                                               pd_settings: Settings) -> None:
    add_probe(factory)
    see(factory, clock, clock.now() + timedelta(days=3))
    settings = replace(pd_settings, pagerduty_routing_key_tier2=None)
    assert watch_certificates(JobContext(settings, clock, factory)) == 0
    assert [job.name for job in JOBS] == ["probes.tls"]


def test_a_real_certificate_is_listed_for_admins_paged_and_on_metrics(
        factory: SessionFactory, pd_settings: Settings, tls_engine: Engine,
        events_api: EventsApiStandIn, tmp_path: Path) -> None:
    """A TLS server with a 5-day certificate, probed by the real runner: the check's
    figures name the certificate, the 7-day threshold pages, admins see it."""
    cert, key = self_signed(tmp_path, days=5, name="shop")
    server = TlsServer(cert, key).start()
    target = f"127.0.0.1:{server.port}"
    try:
        spec = parse_probe({"name": PROBE, "component": "storefront", "region": REGION,
                            "kind": "tls", "target": target, "ca_file": str(cert)},
                           (REGION,), source="api")
        context = RunContext("loc-a", lambda _r: None, lambda _r: None, SystemClock())

        async def once() -> CheckResult:
            async with make_client("loc-a", lambda _l, _r: False) as client:
                return await run_check(spec, context, client, datetime.now(UTC))

        check = asyncio.run(once())
    finally:
        server.stop()
    assert check.ok, check.error
    now = datetime.now(UTC)
    with session_scope(factory) as session:
        store.save_probe(session, spec, now)
        store.save_checks(session, [check], now)
    add_probe(factory, "far-tls", "far.example.test:443")
    clock = ManualClock(now)
    see(factory, clock, now + timedelta(days=60), probe="far-tls")

    assert passes(JobContext(pd_settings, clock, factory)) == 1
    assert events_api.accepted() == [(DEDUP, "trigger")]
    assert events_api.events[0]["payload"]["custom_details"]["threshold_days"] == 7

    app = create_app(pd_settings, clock=clock)
    try:
        client = app.test_client()
        admin = {"Authorization": f"Bearer {make_token(tls_engine, Role.ADMIN)}"}
        listed = client.get("/api/v1/tls", headers=admin).get_json()
        assert listed["warn_days"] == 14
        [row] = listed["certificates"]
        assert (row["probe"], row["component"], row["region"], row["target"]) == (
            PROBE, "storefront", REGION, target)
        assert 4 < row["days_left"] <= 5
        assert row["not_after"] is not None
        assert row["last_checked_at"] == check.started_at.isoformat()
        every = client.get("/api/v1/tls?all=true", headers=admin).get_json()
        assert [c["probe"] for c in every["certificates"]] == [PROBE, "far-tls"]
        support = {"Authorization": f"Bearer {make_token(tls_engine, Role.SUPPORT)}"}
        assert client.get("/api/v1/tls", headers=support).status_code == 403

        metrics = client.get("/metrics").get_data(as_text=True)
        assert "# TYPE bellwether_tls_days_left gauge" in metrics
        assert ('bellwether_tls_days_left{component="storefront",probe="far-tls",'
                f'region="{REGION}"}} 60.0') in metrics
        assert (f'bellwether_tls_days_left{{component="storefront",probe="{PROBE}",'
                f'region="{REGION}"}} {check.figures["tls_days_left"]}') in metrics
    finally:
        app.extensions["bellwether"].engine.dispose()
