"""A running commerce fleet (real listeners on loopback) shared by the commerce tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from commerce import store
from commerce.faults import FaultSpec
from commerce.fleet import Fleet
from core.db import make_session_factory, session_scope
from tests.support.commerce import ShopClient


@pytest.fixture
def faults(fleet: Fleet, engine: Engine) -> Iterator[FaultInjector]:
    injector = FaultInjector(fleet, engine)
    yield injector
    injector.clear_all()


class FaultInjector:
    """Injects faults through the store, as the API does, and applies them at once."""

    def __init__(self, fleet: Fleet, engine: Engine) -> None:
        self.fleet = fleet
        self.factory = make_session_factory(engine)

    def inject(self, spec: FaultSpec) -> int:
        with session_scope(self.factory) as session:
            fault = store.add_fault(session, spec, datetime.now(UTC))
        self.fleet.refresh_faults()
        return fault.id

    def clear_all(self) -> None:
        with session_scope(self.factory) as session:
            store.clear_all_faults(session, datetime.now(UTC))
        self.fleet.refresh_faults()


def new_shop(fleet: Fleet, engine: Engine, region: str = "europe-west1.gcp") -> ShopClient:
    """A fresh project (its own tenant) in `region`, with a token."""
    key = f"shop-{uuid.uuid4().hex[:8]}"
    with session_scope(make_session_factory(engine)) as session:
        _, client_id, secret = store.create_project(session, region, key, datetime.now(UTC))
    shop = ShopClient(fleet.routers[region].url, key, client_id, secret)
    shop.take_token()
    return shop


@pytest.fixture
def shop(fleet: Fleet, engine: Engine) -> ShopClient:
    return new_shop(fleet, engine)
