"""The commerce set shares Bellwether's database: its reads take no write transaction, an
idle fleet does not poll the faults, and a fault from the API applies without a poll.

A "write transaction" here is one begun outside `core.db.read_scope` (on SQLite that is
BEGIN IMMEDIATE, the write lock); transactions are recorded per thread by engine events,
so these tests count transactions and statements on both backends, never time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection

from app import create_app
from commerce import store
from commerce.faults import FaultKind, FaultSpec
from commerce.fleet import FAULT_CHECK_INTERVAL_S, HEALTH_INTERVAL_S, WORKER_SAFETY_S, Fleet
from core.config import Settings
from core.db import READ_ONLY, make_session_factory, session_scope
from tests.commerce.conftest import FaultInjector
from tests.support.commerce import ShopClient
from tests.support.waiting import wait_until

EU = "europe-west1.gcp"
ZONE_THREAD = "CP Server Thread"


@dataclass
class Tx:
    thread: str
    write: bool
    statements: list[str] = field(default_factory=list)


class TxLog:
    """Every transaction on any engine while recording: its thread, kind and statements."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.txs: list[Tx] = []

    def begin(self, conn: Connection) -> None:
        tx = Tx(threading.current_thread().name,
                write=not conn.get_execution_options().get(READ_ONLY))
        conn.info["test_tx"] = tx
        with self._lock:
            self.txs.append(tx)

    def execute(self, conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        tx = conn.info.get("test_tx")
        if tx is not None:
            tx.statements.append(statement)

    def end(self, conn: Connection) -> None:
        conn.info.pop("test_tx", None)

    def clear(self) -> None:
        with self._lock:
            self.txs.clear()

    def of(self, prefix: str) -> list[Tx]:
        with self._lock:
            return [tx for tx in self.txs if tx.thread.startswith(prefix)]


@pytest.fixture
def txlog() -> Iterator[TxLog]:
    log = TxLog()
    hooks = (("begin", log.begin), ("before_cursor_execute", log.execute),
             ("commit", log.end), ("rollback", log.end))
    for name, fn in hooks:
        event.listen(Engine, name, fn)
    yield log
    for name, fn in hooks:
        event.remove(Engine, name, fn)


def fault_statements(txs: list[Tx]) -> list[str]:
    return [s for tx in txs for s in tx.statements if "commerce_faults" in s]


def test_commerce_reads_take_no_write_transaction(shop: ShopClient, txlog: TxLog) -> None:
    product = shop.create_product()
    cart = shop.call("POST", "/carts", json={"currency": "EUR"}).json()
    order = shop.place_order()
    txlog.clear()
    reads = [("GET", "/products"), ("GET", f"/products/{product['id']}"),
             ("GET", "/search?q=shoe"), ("GET", f"/carts/{cart['id']}"),
             ("GET", f"/orders/{order['id']}"), ("GET", "/messages"), ("GET", "/audit-log")]
    for method, path in reads:
        assert shop.call(method, path).status_code == 200, path
    shop.take_token()  # checks the client's secret and signs with the region's secret
    zone_txs = txlog.of(ZONE_THREAD)
    assert [tx.statements for tx in zone_txs if tx.write] == []
    assert zone_txs, "the reads ran in read scopes"


def test_a_commerce_write_is_one_short_write_transaction(shop: ShopClient,
                                                         txlog: TxLog) -> None:
    shop.call("GET", "/products")  # the project is known to the zones from here on
    txlog.clear()
    assert shop.call("POST", "/carts", json={"currency": "EUR"}).status_code == 201
    writes = [tx for tx in txlog.of(ZONE_THREAD) if tx.write]
    assert len(writes) == 1
    assert sum(s.startswith("INSERT") for s in writes[0].statements) == 2  # cart, audit entry
    assert not any("commerce_projects" in s or "commerce_regions" in s
                   for tx in txlog.of(ZONE_THREAD) for s in tx.statements)


def test_an_idle_fleet_does_not_poll_the_faults(fleet: Fleet, txlog: TxLog) -> None:
    assert fleet.next_wait_s() == FAULT_CHECK_INTERVAL_S  # no fault to expire: 1 s, not 0.2
    txlog.clear()
    fleet.check_faults()
    statements = fault_statements(txlog.of("MainThread"))
    assert len(statements) == 1
    assert "max(" in statements[0].lower()
    assert not any(tx.write for tx in txlog.of("MainThread"))
    # What the running control loop does over a bounded second: at most a version check
    # or two (it read all the faults in a write transaction five times a second before).
    txlog.clear()
    threading.Event().wait(FAULT_CHECK_INTERVAL_S)
    control = txlog.of("commerce-control")
    assert len(fault_statements(control)) <= 2
    assert not any(tx.write for tx in control)


def test_a_fault_stored_elsewhere_is_seen_by_the_version_check(
        fleet: Fleet, engine: Engine, faults: FaultInjector) -> None:
    factory = make_session_factory(engine)
    with session_scope(factory) as session:  # as `bellwether web` in another process would
        store.add_fault(session, FaultSpec(FaultKind.ZONE_DOWN, region=EU, zone="b"),
                        datetime.now(UTC))
    fleet.check_faults()
    assert not fleet.zones[(EU, "b")].running


def test_a_fault_that_expires_wakes_the_loop_at_its_expiry(fleet: Fleet,
                                                          faults: FaultInjector) -> None:
    faults.inject(FaultSpec(FaultKind.LATENCY, region=EU, value=1.0, duration_s=1))
    assert fleet.next_wait_s() <= 1.0
    fault = fleet.faults().faults[0]
    assert fault.expires_at is not None
    assert fleet.next_wait_s() <= (fault.expires_at - datetime.now(UTC)
                                   + timedelta(milliseconds=1)).total_seconds()


@pytest.fixture
def fleet_app(settings: Settings, fleet: Fleet) -> Iterator[Flask]:
    app = create_app(settings, parts={"fleet": fleet})
    yield app
    with session_scope(fleet.factory) as session:
        store.clear_all_faults(session, datetime.now(UTC))
    fleet.refresh_faults()
    app.extensions["bellwether"].engine.dispose()


def test_an_api_fault_reaches_the_zone_at_once_without_a_write_lock_to_read_it(
        fleet_app: Flask, fleet: Fleet, admin_token: str, txlog: TxLog) -> None:
    client = fleet_app.test_client()
    created = client.post("/api/v1/faults", headers={"Authorization": f"Bearer {admin_token}"},
                          json={"kind": "zone_down", "region": EU, "zone": "c"})
    assert created.status_code == 201
    assert not fleet.zones[(EU, "c")].running  # before the answer: no poll waited for
    in_writes = fault_statements([tx for tx in txlog.of("MainThread") if tx.write])
    assert [s.split()[0] for s in in_writes] == ["INSERT"]


def test_an_idle_worker_does_not_poll_and_an_order_wakes_it(fleet: Fleet, shop: ShopClient,
                                                            txlog: TxLog) -> None:
    """The worker looked for messages and imports ten times a second (two read transactions
    each); idle, it now looks only at its safety-net pace, and an order's commit wakes it."""
    shop.call("GET", "/products")
    txlog.clear()
    threading.Event().wait(WORKER_SAFETY_S)
    assert len(txlog.of("commerce-worker")) <= 4, "at most two safety-net looks in a second"
    order = shop.place_order()

    def delivered() -> bool:
        messages = shop.call("GET", f"/messages?resource_id={order['id']}").json()
        return any(m["resource_id"] == order["id"] for m in messages["results"])

    wait_until(delivered, timeout=10, message="the order's message delivered")
    writes = [tx for tx in txlog.of("commerce-worker") if tx.write]
    assert any("commerce_messages" in s and s.startswith("UPDATE")
               for tx in writes for s in tx.statements)


def test_the_work_signal_fires_when_the_order_commits_and_not_on_rollback(
        engine: Engine) -> None:
    factory = make_session_factory(engine)
    before = store.WORK_ARRIVED.generation
    session = factory()
    try:
        store.WORK_ARRIVED.mark(session)
        assert store.WORK_ARRIVED.generation == before, "nothing fires before the commit"
        session.rollback()
    finally:
        session.close()
    assert store.WORK_ARRIVED.generation == before
    with session_scope(factory) as session:
        store.WORK_ARRIVED.mark(session)
    assert store.WORK_ARRIVED.generation == before + 1


def test_healthy_zones_are_not_asked_every_second(fleet: Fleet,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The routers asked each of the nine zones for /healthz every second; healthy zones
    are now re-checked every HEALTHY_RECHECK_S (a refused forward marks a zone at once)."""
    from commerce import proxy

    asked: list[int] = []
    real = proxy._answers_health

    def counted(port: int) -> bool:
        asked.append(port)
        return real(port)

    monkeypatch.setattr(proxy, "_answers_health", counted)
    threading.Event().wait(2 * HEALTH_INTERVAL_S)
    zones = len(fleet.zones)
    assert len(asked) <= zones, f"{len(asked)} health requests in 2 s for {zones} zones"
    before = len(asked)
    fleet.faults_changed()  # a fault changed: every zone is checked at once
    wait_until(lambda: len(asked) >= before + zones, timeout=5,
               message="a full health round after the fault change")
