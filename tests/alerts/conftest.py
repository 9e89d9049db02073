"""Fixtures for the outbox and its senders: a database only these tests use, emptied for
each test (the dispatcher looks at every row), a self-signed certificate, the PagerDuty
stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from core import migrate
from core.config import Settings
from core.db import SessionFactory, make_engine, make_session_factory
from tests.support.databases import create_database, drop_database
from tests.support.pagerduty import EventsApiStandIn
from tests.support.tls import self_signed

ROUTING_KEY = "R0UTINGKEY0123456789012345678901"


@pytest.fixture(scope="session")
def outbox_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A migrated database for this package's tests alone (creating and dropping one per test
    costs over a second on PostgreSQL)."""
    url = create_database(tmp_path_factory.mktemp("outbox"), "outbox")
    migrate.upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()
    drop_database(url)


@pytest.fixture
def fresh_engine(outbox_engine: Engine) -> Engine:
    """The outbox database, emptied: the dispatcher claims every due row, so a test must see
    only its own. Committed work is what these tests look at, so no savepoint rollback."""
    with outbox_engine.begin() as conn:
        for table in ("outbox", "subscriber_scopes", "subscribers"):
            conn.execute(text(f"DELETE FROM {table}"))
    return outbox_engine


@pytest.fixture
def factory(fresh_engine: Engine) -> SessionFactory:
    return make_session_factory(fresh_engine)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def events_api(certificate: tuple[Path, Path]) -> Iterator[EventsApiStandIn]:
    stand_in = EventsApiStandIn(*certificate)
    stand_in.start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def pd_settings(events_api: EventsApiStandIn, certificate: tuple[Path, Path]) -> Settings:
    return replace(Settings(), pagerduty_events_url=events_api.url,
                   pagerduty_ca_bundle=str(certificate[0]),
                   pagerduty_routing_key_tier1=ROUTING_KEY)
