"""An app on a database of its own for the badge and embed tests: each of six components of
one region in its own state, and minute rollups behind the uptime figures."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

from flask import Flask
from sqlalchemy.orm import Session

from app import create_app
from core import migrate
from core.config import Settings
from core.db import session_scope
from core.runtime import Runtime
from probes import store as probe_store
from probes.evaluate import Evaluation, State
from reports.counts import day_first_minute
from tests.reports.builders import insert_rollups
from tests.support.clock import ManualClock
from tests.support.databases import create_database, drop_database

NOW = datetime(2026, 10, 10, 12, 0, tzinfo=UTC)
REGION = "europe-west1.gcp"
#: The state each component is in (the six states a badge shows).
STATES = {"auth": State.OPERATIONAL, "products": State.DEGRADED_PERFORMANCE,
          "carts": State.PARTIAL_OUTAGE, "orders": State.MAJOR_OUTAGE,
          "search": State.UNDER_MAINTENANCE, "messages": State.NO_DATA}
#: orders: an hour down 40 days ago (in the 90 days, not the 30), half an hour on the 5th.
DOWNTIME = {date(2026, 8, 31): 60, date(2026, 10, 5): 30}


def whole_day(day: date, down: int = 0) -> list[tuple[int, str, int]]:
    first = day_first_minute(day)
    return [(first + m, "down" if m < down else "up", 3) for m in range(1440)]


def seed(session: Session) -> None:
    for day in (date(2026, 8, 31), *(date(2026, 10, d) for d in range(1, 10))):
        insert_rollups(session, "orders", REGION, whole_day(day, DOWNTIME.get(day, 0)))
    for component, state in STATES.items():
        probe_store.record_state(session, component, REGION, Evaluation(state, "test"), NOW,
                                 None)
    session.flush()


def make_site(tmp_path: Path) -> Iterator[Flask]:
    """The app, its clock at NOW; its database dropped afterwards."""
    url = create_database(tmp_path, "badges")
    migrate.upgrade(url)
    settings = replace(Settings(), data_dir=tmp_path, database_url=url,
                       secret_key="badges-secret")
    app = create_app(settings, clock=ManualClock(NOW))
    runtime: Runtime = app.extensions["bellwether"]
    with session_scope(runtime.session_factory) as session:
        seed(session)
    yield app
    runtime.engine.dispose()
    drop_database(url)
